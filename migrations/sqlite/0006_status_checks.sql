-- The status CHECKs of events and deliveries (0001, 0002) were written `status IN (4 values)`.
-- SQLite evaluates an IN list of more than two constants through an ephemeral B-tree built
-- afresh for every row written: about a tenth of the CPU of an accepted webhook under load
-- (docs/benchmarks.md). The same constraint as four comparisons costs nothing of the kind.
--
-- SQLite cannot alter a CHECK, and rebuilding the tables would run ON DELETE CASCADE from
-- events into deliveries. A constraint that changes nothing on disk and that every stored row
-- already satisfies is changed in the schema text itself, the procedure SQLite documents for
-- this case (https://www.sqlite.org/lang_altertable.html#otheralter). The store opens its
-- other connections after migrating, so they read the new text; RESET makes this one reread it.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (status IN (''pending'', ''delivered'', ''failed'', ''dead''))',
    'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'' OR status = ''dead'')'
)
WHERE type = 'table' AND name IN ('events', 'deliveries');
PRAGMA writable_schema = RESET;
