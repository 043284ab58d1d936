-- Keys an installation makes once and keeps, shared by every process that opens this store:
-- `fingerprint` keys the fingerprints of secrets shown by the admin API.
CREATE TABLE install_keys (
    name TEXT PRIMARY KEY NOT NULL,
    key BLOB NOT NULL
);
