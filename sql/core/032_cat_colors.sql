-- A cat's colours read into a small value space beside the colours as typed
-- (functions/cats.sql, trapper.cat_color; docs/processing.md, "A cat's colour"): "Brown
-- Tabby", "BRN TAB" and "tabby - brown" were three colours, compared as text. Generated
-- columns, so every writer (the processors, the rules router's survivorship, staff) gets
-- them without a change, and the cats stored before are read now.
ALTER TABLE trapper.sot_cats
    ADD COLUMN primary_color_std text GENERATED ALWAYS AS (trapper.cat_color(primary_color)) STORED,
    ADD COLUMN secondary_color_std text
        GENERATED ALWAYS AS (trapper.cat_color(secondary_color)) STORED;
