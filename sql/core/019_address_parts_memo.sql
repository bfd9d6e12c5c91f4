-- What trapper.address_parts read from each address written before (functions/
-- address_parts_memo.sql): six in ten addresses a load reads were read before, word for
-- word (an owner's address on every appointment), and reading one costs more than the rest
-- of finding its place (docs/benchmarks.md, "Identity"). Each worker writes rows of its own
-- (writer: its backend's pid), so that two workers meeting a new address at once never wait
-- on each other's uncommitted row; either's row serves both once committed. An entry is
-- good while `parser` is the version of address_parts and its vocabulary that wrote it
-- (trapper.address_parser_version); an edit of the address tables also empties the memo
-- (trapper.address_vocabulary_refresh).
CREATE TABLE trapper.address_parts_memo (
    raw    text COLLATE "C" NOT NULL,
    writer integer NOT NULL,
    parser text NOT NULL,
    parts  jsonb,
    PRIMARY KEY (raw, writer)
);
