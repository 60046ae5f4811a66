//! `chat-async-std`: the chat server on async-std. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    chat_async_std::main()
}
