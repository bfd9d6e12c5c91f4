-- Names as people write them (issue 17, item 3): a close name ("Walter Rio" / "Walter del
-- Rio", "Jodran" / "Jordan", a suffix or a compound surname's part on one side) is nearly as
-- rare between two different people as an exact one, and now covers more of the ways one
-- person's name is written. Measured on the atlas world with the new shapes, its old weight
-- (m 0.10, u 0.01: 3.3) left an email from a source trusted at 0.4 (petlink) plus a close
-- name at 8.6, below the auto-match threshold of 12: one registry owner with a typo became
-- two people (most of the people-recall loss). m 0.15, u 0.001 gives 7.2: that email plus a
-- close name auto-matches; a shared household phone plus a close name (3.8 + 7.2) still does
-- not, and a different name is still a household member. Identifiers still decide: the name
-- is scored only for people who share an email or phone.
UPDATE trapper.fellegi_sunter_parameters
SET m = 0.15, u = 0.001,
    description = 'nickname, typo, initial, first name only, a suffix, particles or one part '
                  'of a compound surname on one side'
WHERE field = 'name_close';
