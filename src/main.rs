//! The `pgkeep` binary: with no subcommand on a terminal it opens the console; otherwise it
//! runs one subcommand. Errors print as one line and a non-zero exit code.

fn main() {
    std::process::exit(pgkeep::cli::main());
}
