//! Where the benchmark data files come from and where they are looked for.
//!
//! Each [`DatasetSpec`] names one public file: its URL, and the sha256 and size
//! of that exact file. [`locate`] searches, in order:
//!
//! 1. the explicit path given by the caller (a file, or a folder holding it);
//! 2. the folder named by the environment variable [`DATA_DIR_ENV`] (`ODDITY_DATA_DIR`);
//! 3. the repo's `datasets/` folder ([`repo_data_dir`]);
//! 4. `../shared/datasets/` beside the repo root ([`shared_data_dir`]);
//! 5. otherwise it downloads the file into the repo's `datasets/` folder.
//!
//! In each folder the published file name is tried first, then the
//! [`DatasetSpec::alternates`] (for example the gzip-compressed credit-card CSV).
//! A file found locally is *not* hashed on every load (150 MB takes a while);
//! call [`verify`] for an explicit check. Downloads are always verified before
//! they get their final name.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
#[cfg(feature = "download")]
use std::time::Duration;

use flate2::read::MultiGzDecoder;
#[cfg(feature = "download")]
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{OddityError, Result};

/// Environment variable naming a folder that holds the data files.
pub const DATA_DIR_ENV: &str = "ODDITY_DATA_DIR";

/// One concrete file: its name and, where published, its sha256 and byte size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    /// File name, without folder.
    pub file_name: &'static str,
    /// Lower-case hex sha256 of the file's bytes, when known.
    pub sha256: Option<&'static str>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
}

/// A public data set: the file at `url` and other local names it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Human-readable name used in messages.
    pub name: &'static str,
    /// Name of the file served at `url` (and the name a download gets).
    pub file_name: &'static str,
    /// Public URL of the file.
    pub url: &'static str,
    /// Lower-case hex sha256 of the file at `url`; `None` when not published.
    pub sha256: Option<&'static str>,
    /// Size in bytes of the file at `url`; `None` when not known.
    pub size: Option<u64>,
    /// Other local forms of the same data (compressed or uncompressed), tried after `file_name`.
    pub alternates: &'static [FileSpec],
}

impl DatasetSpec {
    /// The file served at `url`, as a [`FileSpec`].
    pub fn primary(&self) -> FileSpec {
        FileSpec { file_name: self.file_name, sha256: self.sha256, size: self.size }
    }

    /// The primary file followed by the alternates, in lookup order.
    pub fn files(&self) -> impl Iterator<Item = FileSpec> + '_ {
        std::iter::once(self.primary()).chain(self.alternates.iter().copied())
    }
}

/// KDD Cup '99, the standard 10 % training subset (494,021 rows), gzip as published by UCI.
pub const KDD_10_PERCENT: DatasetSpec = DatasetSpec {
    name: "KDD Cup '99 (10 %)",
    file_name: "kddcup.data_10_percent.gz",
    url: "http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data_10_percent.gz",
    sha256: Some("8045aca0d84e70e622d1148d7df782496f6333bf6eb979a1b0837c42a9fd9561"),
    size: Some(2_144_903),
    alternates: &[
        FileSpec {
            file_name: "kddcup.data_10_percent",
            sha256: Some("f8c8267ebcd9c0ed1fd7d6277fe5bfff8732e9b7db8e61b873542b2a534b6f9a"),
            size: Some(74_889_749),
        },
        FileSpec {
            file_name: "kddcup.data_10_percent_corrected",
            sha256: Some("f8c8267ebcd9c0ed1fd7d6277fe5bfff8732e9b7db8e61b873542b2a534b6f9a"),
            size: Some(74_889_749),
        },
    ],
};

/// KDD Cup '99, the full training set (about 4.9 M rows), gzip as published by UCI.
///
/// No checksum or size of this file is recorded here, so [`verify`] and the
/// download can only check that it is a complete, valid gzip stream.
pub const KDD_FULL: DatasetSpec = DatasetSpec {
    name: "KDD Cup '99 (full)",
    file_name: "kddcup.data.gz",
    url: "http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data.gz",
    sha256: None,
    size: None,
    alternates: &[
        FileSpec { file_name: "kddcup.data", sha256: None, size: None },
        FileSpec { file_name: "kddcup.data.corrected", sha256: None, size: None },
    ],
};

/// Credit-card fraud (ULB / Worldline, 284,807 rows), the CSV of the public TensorFlow mirror.
///
/// A gzip-compressed copy named `creditcard.csv.gz` is accepted too and is
/// verified against the sha256 of that compressed file.
pub const CREDITCARD: DatasetSpec = DatasetSpec {
    name: "credit-card fraud",
    file_name: "creditcard.csv",
    url: "https://storage.googleapis.com/download.tensorflow.org/data/creditcard.csv",
    sha256: Some("76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89"),
    size: Some(150_828_752),
    alternates: &[FileSpec {
        file_name: "creditcard.csv.gz",
        sha256: Some("2eefcba05104d681a21efa64178e3c483eb28eb06d47585780b5e3141bc5192c"),
        size: Some(68_474_715),
    }],
};

/// The repo's own `datasets/` folder (lookup step 3, and where downloads go).
pub fn repo_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets"))
}

/// `../shared/datasets/` beside the repo root (lookup step 4).
pub fn shared_data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.parent().unwrap_or(root).join("shared").join("datasets")
}

/// Find `spec` locally (steps 1-4 of the module docs) or download it (step 5).
///
/// An explicit path that does not exist, or a folder without the file, is an
/// error rather than a reason to look elsewhere. When nothing is found and the
/// download fails, the [`OddityError::DataNotFound`] reason lists every place
/// searched and where to put the file.
pub fn locate(spec: &DatasetSpec, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(found) = find_local(spec, explicit)? {
        return Ok(found);
    }
    let dest = repo_data_dir();
    download(spec, spec.url, &dest).map_err(|e| match e {
        OddityError::DataNotFound { name, reason } => OddityError::DataNotFound {
            name,
            reason: format!(
                "{reason}; searched {}; put {} (or one of: {}) into {} or into the folder named by {DATA_DIR_ENV}",
                searched_places(explicit).join(", "),
                spec.file_name,
                alternate_names(spec),
                dest.display()
            ),
        },
        other => other,
    })
}

/// Steps 1-4 of [`locate`] without the download: `Ok(None)` when no folder holds the file.
pub fn find_local(spec: &DatasetSpec, explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(Some(path.to_path_buf()));
        }
        if path.is_dir() {
            return match find_in_dir(spec, path) {
                Some(found) => Ok(Some(found)),
                None => Err(not_found(
                    spec,
                    format!("folder {} holds none of: {}, {}", path.display(), spec.file_name, alternate_names(spec)),
                )),
            };
        }
        return Err(not_found(spec, format!("explicit path {} does not exist", path.display())));
    }
    Ok(search_dirs().iter().find_map(|(_, dir)| find_in_dir(spec, dir)))
}

/// Check `path` against the published sha256 (and size) of the matching file of `spec`.
///
/// The matching file is chosen by file name, else by whether `path` is gzip.
/// A file with no published checksum is checked for a complete gzip stream
/// (when gzip) and its size (when known). A sha256 mismatch is
/// [`OddityError::Checksum`]; other invalid files are [`OddityError::Format`].
pub fn verify(spec: &DatasetSpec, path: &Path) -> Result<()> {
    let expected = matching_file(spec, path)?;
    check_file(&expected, path, path)
}

/// Download `url` into `dest_dir` under `spec.file_name`, showing a progress bar.
///
/// The bytes go to `<file_name>.part`, which is renamed only once its sha256
/// matches `spec.sha256` (or, with no published sha256, once it is a valid
/// gzip stream); on any failure the `.part` file is deleted. Network failures
/// are [`OddityError::DataNotFound`].
pub fn download(spec: &DatasetSpec, url: &str, dest_dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dest_dir).map_err(|e| OddityError::io(dest_dir, e))?;
    let dest = dest_dir.join(spec.file_name);
    let part = dest_dir.join(format!("{}.part", spec.file_name));
    let outcome = fetch(spec, url, &part).and_then(|()| check_file(&spec.primary(), &part, Path::new(url)));
    match outcome {
        Ok(()) => fs::rename(&part, &dest).map_err(|e| OddityError::io(&dest, e)).map(|()| dest),
        Err(e) => {
            let _ = fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Open a data file for line reading, decompressing it when it starts with the gzip magic bytes.
pub fn open_data_file(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    const BUF: usize = 1 << 18;
    let file = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let mut reader = BufReader::with_capacity(BUF, file);
    let head = reader.fill_buf().map_err(|e| OddityError::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(BUF, MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn search_dirs() -> Vec<(String, PathBuf)> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push((format!("${DATA_DIR_ENV}"), PathBuf::from(dir)));
    }
    dirs.push(("repo datasets/".to_string(), repo_data_dir()));
    dirs.push(("shared datasets".to_string(), shared_data_dir()));
    dirs
}

fn searched_places(explicit: Option<&Path>) -> Vec<String> {
    let mut places = Vec::new();
    if let Some(p) = explicit {
        places.push(format!("explicit path {}", p.display()));
    }
    if std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()).is_none() {
        places.push(format!("${DATA_DIR_ENV} (unset)"));
    }
    places.extend(search_dirs().into_iter().map(|(label, dir)| format!("{label} {}", dir.display())));
    places
}

fn find_in_dir(spec: &DatasetSpec, dir: &Path) -> Option<PathBuf> {
    spec.files().map(|f| dir.join(f.file_name)).find(|p| p.is_file())
}

fn alternate_names(spec: &DatasetSpec) -> String {
    let names: Vec<&str> = spec.alternates.iter().map(|f| f.file_name).collect();
    if names.is_empty() {
        "no other names".to_string()
    } else {
        names.join(", ")
    }
}

fn not_found(spec: &DatasetSpec, reason: String) -> OddityError {
    OddityError::DataNotFound { name: spec.name.to_string(), reason }
}

fn is_gzip_file(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut file = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let n = file.read(&mut magic).map_err(|e| OddityError::io(path, e))?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

fn matching_file(spec: &DatasetSpec, path: &Path) -> Result<FileSpec> {
    let name = path.file_name().and_then(|n| n.to_str());
    if let Some(f) = spec.files().find(|f| Some(f.file_name) == name) {
        return Ok(f);
    }
    let gz = is_gzip_file(path)?;
    Ok(spec.files().find(|f| f.file_name.ends_with(".gz") == gz).unwrap_or_else(|| spec.primary()))
}

/// Check `path` against `expected`; `shown` is the name used in error messages.
fn check_file(expected: &FileSpec, path: &Path, shown: &Path) -> Result<()> {
    let size = fs::metadata(path).map_err(|e| OddityError::io(path, e))?.len();
    match expected.sha256 {
        Some(want) => {
            let got = sha256_file(path)?;
            if got != want {
                return Err(OddityError::Checksum { path: shown.to_path_buf(), expected: want.to_string(), got });
            }
            Ok(())
        }
        None => {
            if let Some(want) = expected.size.filter(|&want| want != size) {
                return Err(OddityError::Format {
                    path: shown.to_path_buf(),
                    reason: format!("size {size} bytes, expected {want}"),
                });
            }
            if expected.file_name.ends_with(".gz") {
                check_gzip(path, shown)?;
            }
            Ok(())
        }
    }
}

/// Decompress the whole file to check that it is one complete gzip stream (or several).
fn check_gzip(path: &Path, shown: &Path) -> Result<()> {
    if !is_gzip_file(path)? {
        return Err(OddityError::Format { path: shown.to_path_buf(), reason: "not a gzip file".to_string() });
    }
    let file = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 18, file));
    io::copy(&mut decoder, &mut io::sink())
        .map(|_| ())
        .map_err(|e| OddityError::Format { path: shown.to_path_buf(), reason: format!("invalid gzip data: {e}") })
}

/// Lower-case hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    loop {
        let n = file.read(&mut buf).map_err(|e| OddityError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Without the `download` feature there is no client: the file must be
/// placed by hand where [`locate`] looks.
#[cfg(not(feature = "download"))]
fn fetch(spec: &DatasetSpec, url: &str, _part: &Path) -> Result<()> {
    Err(not_found(spec, format!("not downloading {url}: this build has no download client (cargo feature `download`)")))
}

/// Stream `url` into `part`; network errors become `DataNotFound`.
#[cfg(feature = "download")]
fn fetch(spec: &DatasetSpec, url: &str, part: &Path) -> Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| not_found(spec, format!("download from {url} failed: {e}")))?;
    let total = response.header("Content-Length").and_then(|v| v.parse::<u64>().ok()).or(spec.size);
    let bar = match total {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(format!("downloading {}", spec.file_name));

    let copied = copy_to_file(spec, url, &mut response.into_reader(), part, &bar);
    match copied {
        Ok(()) => bar.finish_and_clear(),
        Err(_) => bar.abandon_with_message(format!("download of {} failed", spec.file_name)),
    }
    copied
}

/// Copy the response body into `part`, advancing `bar`.
#[cfg(feature = "download")]
fn copy_to_file(spec: &DatasetSpec, url: &str, reader: &mut impl Read, part: &Path, bar: &ProgressBar) -> Result<()> {
    use std::io::Write;
    let file = File::create(part).map_err(|e| OddityError::io(part, e))?;
    let mut out = io::BufWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| not_found(spec, format!("download from {url} broke off: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| OddityError::io(part, e))?;
        bar.inc(n as u64);
    }
    out.flush().map_err(|e| OddityError::io(part, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    const TEST_SPEC: DatasetSpec = DatasetSpec {
        name: "test set",
        file_name: "data.csv",
        url: "http://127.0.0.1:9/data.csv",
        // sha256 of b"hello\n"
        sha256: Some("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
        size: Some(6),
        alternates: &[FileSpec { file_name: "data.csv.gz", sha256: None, size: None }],
    };

    fn gz_bytes(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn explicit_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anything.csv");
        fs::write(&path, b"hello\n").unwrap();
        assert_eq!(locate(&TEST_SPEC, Some(&path)).unwrap(), path);
    }

    #[test]
    fn explicit_dir_tries_primary_then_alternates() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("data.csv.gz"), gz_bytes(b"x")).unwrap();
        let found = find_local(&TEST_SPEC, Some(dir.path())).unwrap().unwrap();
        assert_eq!(found, dir.path().join("data.csv.gz"));
        fs::write(dir.path().join("data.csv"), b"hello\n").unwrap();
        let found = find_local(&TEST_SPEC, Some(dir.path())).unwrap().unwrap();
        assert_eq!(found, dir.path().join("data.csv"));
    }

    #[test]
    fn explicit_missing_is_data_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        let err = locate(&TEST_SPEC, Some(&missing)).unwrap_err();
        assert!(matches!(err, OddityError::DataNotFound { .. }), "{err}");
        assert!(err.to_string().contains("nope.csv"));
        let err = find_local(&TEST_SPEC, Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("holds none of"), "{err}");
    }

    #[test]
    fn verify_checks_sha_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("data.csv");
        fs::write(&good, b"hello\n").unwrap();
        verify(&TEST_SPEC, &good).unwrap();
        fs::write(&good, b"hellO\n").unwrap();
        let err = verify(&TEST_SPEC, &good).unwrap_err();
        assert!(matches!(err, OddityError::Checksum { .. }), "{err}");

        // The .gz alternate has no checksum: only gzip validity is checked.
        let gz = dir.path().join("data.csv.gz");
        let bytes = gz_bytes(b"some rows\nmore rows\n");
        fs::write(&gz, &bytes).unwrap();
        verify(&TEST_SPEC, &gz).unwrap();
        fs::write(&gz, &bytes[..bytes.len() - 6]).unwrap();
        let err = verify(&TEST_SPEC, &gz).unwrap_err();
        assert!(matches!(err, OddityError::Format { .. }), "{err}");
    }

    #[test]
    fn verify_picks_spec_by_gzip_magic_for_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("renamed");
        fs::write(&other, gz_bytes(b"rows\n")).unwrap();
        verify(&TEST_SPEC, &other).unwrap();
        fs::write(&other, b"hello\n").unwrap();
        verify(&TEST_SPEC, &other).unwrap();
    }

    #[test]
    fn open_data_file_reads_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.csv");
        let gz = dir.path().join("a.csv.gz");
        fs::write(&plain, b"a,b\n1,2\n").unwrap();
        fs::write(&gz, gz_bytes(b"a,b\n1,2\n")).unwrap();
        for p in [&plain, &gz] {
            let mut s = String::new();
            open_data_file(p).unwrap().read_to_string(&mut s).unwrap();
            assert_eq!(s, "a,b\n1,2\n");
        }
    }

    #[test]
    fn download_failure_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let err = download(&TEST_SPEC, "http://127.0.0.1:9/x", dir.path()).unwrap_err();
        match &err {
            OddityError::DataNotFound { name, reason } => {
                assert_eq!(name, "test set");
                assert!(reason.contains("http://127.0.0.1:9/x"), "{reason}");
            }
            other => panic!("unexpected error {other}"),
        }
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    /// Serve `body` once over HTTP on a loopback port; returns the URL.
    #[cfg(feature = "download")]
    fn serve_once(body: &'static [u8]) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/data.csv", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let mut stream = stream;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        });
        url
    }

    #[test]
    #[cfg(feature = "download")]
    fn download_renames_only_verified_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = serve_once(b"hello\n");
        let path = download(&TEST_SPEC, &url, dir.path()).unwrap();
        assert_eq!(path, dir.path().join("data.csv"));
        assert_eq!(fs::read(&path).unwrap(), b"hello\n");
        assert!(!dir.path().join("data.csv.part").exists());

        let dir = tempfile::tempdir().unwrap();
        let url = serve_once(b"tampered\n");
        let err = download(&TEST_SPEC, &url, dir.path()).unwrap_err();
        assert!(matches!(err, OddityError::Checksum { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn locate_offline_lists_places_searched() {
        // TEST_SPEC's URL is unreachable, so this exercises the full lookup and the failed download.
        let err = locate(&TEST_SPEC, None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, OddityError::DataNotFound { .. }), "{msg}");
        assert!(msg.contains(&repo_data_dir().display().to_string()), "{msg}");
        assert!(msg.contains(&shared_data_dir().display().to_string()), "{msg}");
        assert!(msg.contains(DATA_DIR_ENV), "{msg}");
        assert!(!repo_data_dir().join("data.csv.part").exists());
        assert!(!repo_data_dir().join("data.csv").exists());
    }

    #[test]
    fn published_specs_are_consistent() {
        for spec in [KDD_10_PERCENT, KDD_FULL, CREDITCARD] {
            for f in spec.files() {
                if let Some(sha) = f.sha256 {
                    assert_eq!(sha.len(), 64);
                    assert!(sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                }
            }
            assert!(spec.url.ends_with(spec.file_name));
        }
        assert!(shared_data_dir().ends_with("shared/datasets"));
        assert!(repo_data_dir().ends_with("datasets"));
    }
}
