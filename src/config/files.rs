//! What the configuration names on disk: `schema` files and the SQLite database.
//!
//! One rule for every relative path in the file: it is relative to the directory of the config
//! file, never to the working directory, so `hookwall serve --config /etc/hookwall/hookwall.toml`
//! finds the same files whatever directory it is started from (a systemd unit, a container, a
//! shell in another project). `sqlite:///abs/path` and absolute schema paths are used as they are.
//!
//! Schema files are read and compiled while the config loads ([`super::Config::load`]), so a
//! missing or invalid one is reported in the same run as every other error, with its key and
//! line. [`super::Config::from_str_with_env`] passes no checker and stays pure.

use std::path::{Component, Path, PathBuf};

use super::model::StoreUrl;

/// Reads and compiles one schema file; the message names the file, never its content.
pub(crate) type SchemaCheck = dyn Fn(&Path) -> Result<(), String>;

/// The checker [`super::Config::load`] uses: the file must exist, be JSON and be a JSON Schema
/// the pipeline can compile (the same compiler and options the pipeline uses).
pub(crate) fn read_schema(path: &Path) -> Result<(), String> {
    super::json_schema::read(path).map(|_| ())
}

/// A relative `sqlite://` path, resolved against the config file's directory.
pub(crate) fn resolve_store(url: &mut StoreUrl, config_dir: &Path) {
    if let StoreUrl::Sqlite(path) = url
        && path.is_relative()
    {
        *path = tidy(&config_dir.join(&*path));
    }
}

/// `dir/./data/x.db` as `dir/data/x.db`: the same file, as a reader expects to see it in logs.
/// `..` is kept (removing it would be wrong across symbolic links).
fn tidy(path: &Path) -> PathBuf {
    let tidied: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if tidied.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_sqlite_path_is_relative_to_the_config_file() {
        let mut url = StoreUrl::Sqlite(PathBuf::from("./data/hookwall.db"));
        resolve_store(&mut url, Path::new("/etc/hookwall"));
        assert_eq!(
            url,
            StoreUrl::Sqlite(PathBuf::from("/etc/hookwall/data/hookwall.db"))
        );

        let mut url = StoreUrl::Sqlite(PathBuf::from("../data/hookwall.db"));
        resolve_store(&mut url, Path::new("examples"));
        assert_eq!(
            url,
            StoreUrl::Sqlite(PathBuf::from("examples/../data/hookwall.db"))
        );

        // A config file named without a directory: its directory is the working directory.
        let mut url = StoreUrl::Sqlite(PathBuf::from("./data/hookwall.db"));
        resolve_store(&mut url, Path::new(""));
        assert_eq!(url, StoreUrl::Sqlite(PathBuf::from("data/hookwall.db")));

        let mut url = StoreUrl::Sqlite(PathBuf::from("/var/lib/hookwall/hookwall.db"));
        resolve_store(&mut url, Path::new("/etc/hookwall"));
        assert_eq!(
            url,
            StoreUrl::Sqlite(PathBuf::from("/var/lib/hookwall/hookwall.db"))
        );
    }
}
