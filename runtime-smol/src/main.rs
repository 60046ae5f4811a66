//! `chat-smol`: the chat server on smol. `--help` lists the flags.

fn main() -> std::process::ExitCode {
    chat_smol::main()
}
