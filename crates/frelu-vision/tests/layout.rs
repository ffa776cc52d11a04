//! The shape of the code, checked: layers import downward only, no task imports another, and no
//! source file or function grows past what a reader takes in at once (600 lines of non-test
//! code per file, 80 lines per function).

use std::path::{Path, PathBuf};

/// The layers of `frelu-vision`, bottom first. A module may use its own layer and those below.
const LAYERS: [(&str, usize); 9] = [
    ("fsio", 0),
    ("device", 0),
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

/// The text of a file before its unit-test module.
fn non_test(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("\n#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
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
