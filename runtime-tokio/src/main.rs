//! `chat-tokio`: the chat server on tokio. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    chat_tokio::main()
}
