//! Lines from the keyboard or a pipe, read on their own thread.

use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use std::io::{BufRead, IsTerminal};
use std::sync::mpsc::Sender;

/// What the input thread reports.
pub(crate) enum Input {
    Line(String),
    /// End of input (Ctrl-D, Ctrl-C, or the end of a pipe).
    End,
}

/// Where incoming lines are shown.
pub(crate) enum Screen {
    /// Above the line being edited.
    Terminal(Box<dyn ExternalPrinter + Send>),
    /// On stdout, one per line.
    Plain,
}

impl Screen {
    pub(crate) fn show(&mut self, line: &str) {
        match self {
            Screen::Terminal(printer) => {
                if printer.print(format!("{line}\n")).is_err() {
                    println!("{line}");
                }
            }
            Screen::Plain => println!("{line}"),
        }
    }
}

/// Starts reading input on a thread; returns where to show incoming lines.
pub(crate) fn start(lines: Sender<Input>) -> Screen {
    if std::io::stdin().is_terminal() {
        if let Ok(mut editor) = DefaultEditor::new() {
            if let Ok(printer) = editor.create_external_printer() {
                std::thread::spawn(move || edit(editor, lines));
                return Screen::Terminal(Box::new(printer));
            }
        }
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send(Input::Line(line)).is_err() {
                break;
            }
        }
        let _ = lines.send(Input::End);
    });
    Screen::Plain
}

fn edit(mut editor: DefaultEditor, lines: Sender<Input>) {
    loop {
        match editor.readline("> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if lines.send(Input::Line(line)).is_err() {
                    return;
                }
            }
            Err(ReadlineError::Interrupted | ReadlineError::Eof) | Err(_) => {
                let _ = lines.send(Input::End);
                return;
            }
        }
    }
}
