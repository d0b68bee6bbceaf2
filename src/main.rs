fn main() -> std::process::ExitCode {
    plexsync_cli::main()
}
