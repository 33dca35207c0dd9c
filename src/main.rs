fn main() {
    std::process::exit(fleet::main_with_args(std::env::args_os()));
}
