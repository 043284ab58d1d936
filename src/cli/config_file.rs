//! The `--config` argument every command that reads the configuration file takes.

use std::path::PathBuf;

use clap::Args;

/// Where the configuration file is.
#[derive(Debug, Args)]
pub struct ConfigFile {
    /// The configuration file.
    #[arg(
        long,
        short,
        env = "HOOKWALL_CONFIG",
        default_value = "./hookwall.toml"
    )]
    pub config: PathBuf,
}
