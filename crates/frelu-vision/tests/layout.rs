//! The shape of the code, checked: layers import downward only, no task imports another, no two
//! files of a folder import each other, the libraries do not print, and no source file or
//! function grows past what a reader takes in at once (600 lines of non-test code per file, 80
//! lines per function).

use std::path::{Path, PathBuf};

/// The layers of `frelu-vision`, bottom first. A module may use its own layer and those below.
const LAYERS: [(&str, usize); 11] = [
    ("fsio", 0),
    ("device", 0),
    ("progress", 0),
    ("run_files", 0),
    ("data", 1),
    ("models", 2),
    ("analysis", 3),
    ("export", 3),
    ("runs", 4),
    ("tasks", 5),
    ("bench", 6),
];

/// The tasks, which must not use each other.
const TASKS: [&str; 3] = ["classify", "detect", "action"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files that are test modules declared out of line (`#[cfg(test)] mod tests;`).
fn is_test_file(path: &Path) -> bool {
    path.file_stem()
        .is_some_and(|s| s == "tests" || s == "testing")
}

/// The code of a file that is not test code: an inline `#[cfg(test)] mod … {` ends it (test
/// modules come last); `#[cfg(test)]` on anything else (`mod tests;`) drops that line only.
fn strip_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]" {
            match lines.peek() {
                Some(next) if next.contains("mod ") && next.trim_end().ends_with('{') => break,
                Some(_) => {
                    lines.next();
                    continue;
                }
                None => break,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The text of a file that is not test code.
fn non_test(path: &Path) -> String {
    if is_test_file(path) {
        return String::new();
    }
    strip_tests(&std::fs::read_to_string(path).unwrap())
}

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// `src/tasks/detect/train.rs` → `["tasks", "detect", "train"]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    file.strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .filter(|c| c != "mod")
        .collect()
}

/// Every `crate::a::b` path mentioned in `code`, as `[a, b]`.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i + "crate::".len()..];
        let path: String = tail
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        found.push(
            path.split("::")
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        );
        rest = tail;
    }
    found
}

#[test]
fn layers_import_downward_only_and_tasks_stay_apart() {
    let src = crates_dir().join("frelu-vision/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = module_path(&src, file);
        let Some(own) = module.first().and_then(|m| layer_of(m)) else {
            continue;
        };
        let code = non_test(file);
        for path in crate_paths(&code) {
            let Some(target) = path.first().and_then(|m| layer_of(m)) else {
                continue;
            };
            if target > own {
                violations.push(format!(
                    "{}: uses crate::{}",
                    file.display(),
                    path.join("::")
                ));
            }
            let same_tasks = module.first().is_some_and(|m| m == "tasks")
                && path.first().is_some_and(|m| m == "tasks");
            if let (true, Some(mine), Some(theirs)) = (same_tasks, module.get(1), path.get(1))
                && TASKS.contains(&theirs.as_str())
                && mine != theirs
            {
                violations.push(format!(
                    "{}: task {mine} uses task crate::{}",
                    file.display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    // The scanner itself: a path from a lower layer to a higher one is found.
    let paths = crate_paths("use crate::tasks::classify::write_json;\nlet x = crate::fsio::a();");
    assert_eq!(paths[0], vec!["tasks", "classify", "write_json"]);
    assert!(layer_of(&paths[0][0]).unwrap() > layer_of("analysis").unwrap());
    assert_eq!(paths[1], vec!["fsio", "a"]);
}

/// Lines of every function in `code` longer than `limit`: `(name, lines)`.
fn long_functions(code: &str, limit: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(at) = trimmed.find("fn ") else {
            continue;
        };
        let before = &trimmed[..at];
        let is_item = before.split_whitespace().all(|w| {
            [
                "pub",
                "pub(crate)",
                "pub(super)",
                "const",
                "async",
                "unsafe",
            ]
            .contains(&w)
        });
        if !is_item || trimmed.starts_with("//") {
            continue;
        }
        let name: String = trimmed[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                if j - i + 1 > limit {
                    long.push((name.clone(), j - i + 1));
                }
                break;
            }
        }
    }
    long
}

#[test]
fn no_file_over_600_lines_and_no_function_over_80() {
    let mut files = Vec::new();
    for krate in ["frelu", "frelu-vision", "frelu-cli"] {
        sources(&crates_dir().join(krate).join("src"), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let code = non_test(file);
        let n = code.lines().count();
        if n > 600 {
            problems.push(format!("{}: {n} lines of non-test code", file.display()));
        }
        for (name, lines) in long_functions(&code, 80) {
            problems.push(format!("{}: fn {name} has {lines} lines", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The counter itself finds a long function.
    let long = format!("fn big() {{\n{}}}\n", "    x();\n".repeat(90));
    assert_eq!(long_functions(&long, 80), vec![("big".to_string(), 92)]);
}

/// Lines of `code` that print (`print!`, `println!`, `eprint!`, `eprintln!`, `dbg!`),
/// comments left out.
fn prints(code: &str) -> Vec<String> {
    code.lines()
        .filter(|line| {
            let code = line.split("//").next().unwrap_or("");
            ["print!(", "println!(", "dbg!("]
                .iter()
                .any(|m| code.contains(m))
        })
        .map(|line| line.trim().to_string())
        .collect()
}

#[test]
fn the_libraries_do_not_print() {
    let mut found = Vec::new();
    for krate in ["frelu", "frelu-vision"] {
        let mut files = Vec::new();
        sources(&crates_dir().join(krate).join("src"), &mut files);
        for file in &files {
            for line in prints(&non_test(file)) {
                found.push(format!("{}: {line}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the libraries print (report through frelu_vision::progress::Reporter instead):\n{}",
        found.join("\n")
    );
    // The scanner itself: every form is seen, comments and test modules are not, and code
    // after an out-of-line test module's declaration is.
    let code = "fn a() {\n    eprintln!(\"x\");\n    // println!(\"y\");\n}\n#[cfg(test)]\nmod tests;\nfn b() { print!(\"z\") }\n#[cfg(test)]\nmod tests {\n    fn c() { println!(\"w\") }\n}\n";
    assert_eq!(
        prints(&strip_tests(code)),
        ["eprintln!(\"x\");", "fn b() { print!(\"z\") }"]
    );
}

/// The sibling files (same folder, `mod.rs` aside) that `file`'s code uses, by module name:
/// `super::NAME` and `crate::…::FOLDER::NAME`. A `mod.rs` is its folder's index: none.
fn sibling_uses(src: &Path, file: &Path, code: &str) -> Vec<String> {
    if file
        .file_stem()
        .is_some_and(|s| s == "mod" || s == "lib" || s == "main")
    {
        return Vec::new();
    }
    let folder = file.parent().unwrap();
    let mut module = module_path(src, file);
    module.pop();
    let is_sibling = |name: &str| {
        name != "mod" && name != file.file_stem().unwrap().to_string_lossy() && {
            let sibling = folder.join(format!("{name}.rs"));
            sibling.is_file() || folder.join(name).join("mod.rs").is_file()
        }
    };
    let mut found: Vec<String> = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        let tail = &rest[i + "super::".len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if is_sibling(&name) {
            found.push(name);
        }
        rest = tail;
    }
    for path in crate_paths(code) {
        if path.len() > module.len() && path[..module.len()] == module[..] {
            let name = &path[module.len()];
            if is_sibling(name) {
                found.push(name.clone());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_two_files_of_a_folder_import_each_other() {
    let mut mutual = Vec::new();
    for krate in ["frelu", "frelu-vision", "frelu-cli"] {
        let src = crates_dir().join(krate).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let uses: Vec<(PathBuf, Vec<String>)> = files
            .iter()
            .map(|f| (f.clone(), sibling_uses(&src, f, &non_test(f))))
            .collect();
        for (file, used) in &uses {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            for name in used {
                let back = uses.iter().any(|(other, theirs)| {
                    other.parent() == file.parent()
                        && other.file_stem().is_some_and(|s| s == name.as_str())
                        && theirs.contains(&stem)
                });
                if back && stem < *name {
                    mutual.push(format!("{} <-> {name}.rs", file.display()));
                }
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "files that import each other:\n{}",
        mutual.join("\n")
    );
    // The scanner itself: both forms of a sibling import are seen, an item of `mod.rs` is not.
    let dir = std::env::temp_dir().join(format!("layout-check-{}", std::process::id()));
    let folder = dir.join("src/runs");
    std::fs::create_dir_all(&folder).unwrap();
    for name in ["grid", "summary", "mod"] {
        std::fs::write(folder.join(format!("{name}.rs")), "").unwrap();
    }
    let src = dir.join("src");
    let grid = folder.join("grid.rs");
    let code = "use super::summary::Table;\nuse super::Thing;\nfn f() { crate::runs::grid::g() }";
    assert_eq!(sibling_uses(&src, &grid, code), ["summary"]);
    let code = "use crate::runs::{summary::Table};\nuse crate::runs::summary;";
    assert_eq!(sibling_uses(&src, &grid, code), ["summary"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
