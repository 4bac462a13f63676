mod support;

fn main() {
    let _ = support::target_dir();
}
