//! KDD Cup '99 network-intrusion data (the 10 % subset or the full training set).
//!
//! Each line holds 41 features and a label ending in a dot (`normal.`, `smurf.`).
//! Labels map to attack families as in Alibi Detect's `fetch_kdd`; every
//! non-normal connection is an attack (the outlier class). Files may be gzip
//! (detected by magic bytes) or plain text. The loader streams line by line.

use std::io::BufRead;

use crate::io::csv::{for_each_record, parse_error};
use std::path::Path;

use ndarray::Array2;

use super::lookup::{locate, open_data_file, KDD_10_PERCENT, KDD_FULL};
use crate::error::{OddityError, Result};

/// The 41 KDD feature names in file order.
pub const KDD_COLUMNS: [&str; 41] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
];

/// 0-based indices of the three categorical columns (protocol_type, service, flag).
const CATEGORICAL: [usize; 3] = [1, 2, 3];

/// First of the 18 columns kept by Alibi's `fetch_kdd` (`srv_count`); they run to the end.
const ALIBI18_START: usize = 23;

/// `protocol_type` values, in byte order (the order pandas `get_dummies` uses).
///
/// Fixed so that one-hot columns are the same for every file: all values of the
/// UCI training data (10 % and full).
pub const PROTOCOLS: [&str; 3] = ["icmp", "tcp", "udp"];

/// `service` values, in byte order.
///
/// The 66 values of the 10 % file plus the four that occur only in the full
/// training set (`aol`, `harvest`, `http_2784`, `http_8001`): the 70-value list
/// also used by NSL-KDD, which is derived from the full set.
#[rustfmt::skip]
pub const SERVICES: [&str; 70] = [
    "IRC", "X11", "Z39_50", "aol", "auth", "bgp", "courier", "csnet_ns", "ctf", "daytime",
    "discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec", "finger", "ftp",
    "ftp_data", "gopher", "harvest", "hostnames", "http", "http_2784", "http_443", "http_8001",
    "imap4", "iso_tsap", "klogin", "kshell", "ldap", "link", "login", "mtp", "name", "netbios_dgm",
    "netbios_ns", "netbios_ssn", "netstat", "nnsp", "nntp", "ntp_u", "other", "pm_dump", "pop_2",
    "pop_3", "printer", "private", "red_i", "remote_job", "rje", "shell", "smtp", "sql_net", "ssh",
    "sunrpc", "supdup", "systat", "telnet", "tftp_u", "tim_i", "time", "urh_i", "urp_i", "uucp",
    "uucp_path", "vmnet", "whois",
];

/// `flag` values (TCP connection status), in byte order: the 11 values of the UCI training data.
pub const FLAGS: [&str; 11] = ["OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH"];

/// Attack family of a connection, as assigned by Alibi Detect's `fetch_kdd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackFamily {
    /// Normal traffic (the inlier class).
    Normal,
    /// Denial of service (back, land, neptune, pod, smurf, teardrop).
    Dos,
    /// Probing / scanning (ipsweep, nmap, portsweep, satan).
    Probe,
    /// Remote to local (ftp_write, guess_passwd, imap, multihop, phf, spy, warezclient, warezmaster).
    R2l,
    /// User to root (buffer_overflow, loadmodule, perl, rootkit).
    U2r,
}

impl AttackFamily {
    /// Family of a raw label (without the trailing dot); `None` for labels outside the 23 training labels.
    pub fn from_label(label: &str) -> Option<Self> {
        use AttackFamily::*;
        Some(match label {
            "normal" => Normal,
            "back" | "land" | "neptune" | "pod" | "smurf" | "teardrop" => Dos,
            "ipsweep" | "nmap" | "portsweep" | "satan" => Probe,
            "ftp_write" | "guess_passwd" | "imap" | "multihop" | "phf" | "spy" | "warezclient" | "warezmaster" => R2l,
            "buffer_overflow" | "loadmodule" | "perl" | "rootkit" => U2r,
            _ => return None,
        })
    }

    /// True for every family except [`AttackFamily::Normal`].
    pub fn is_attack(self) -> bool {
        self != AttackFamily::Normal
    }

    /// Lower-case name as used by Alibi (`normal`, `dos`, `probe`, `r2l`, `u2r`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttackFamily::Normal => "normal",
            AttackFamily::Dos => "dos",
            AttackFamily::Probe => "probe",
            AttackFamily::R2l => "r2l",
            AttackFamily::U2r => "u2r",
        }
    }
}

/// Which columns end up in [`KddData::x`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KddFeatures {
    /// The 18 continuous columns Alibi's `fetch_kdd` keeps (`srv_count` … `dst_host_srv_rerror_rate`), in file order.
    #[default]
    Alibi18,
    /// All 41 columns in file order, each categorical column replaced in place by its
    /// one-hot block over [`PROTOCOLS`], [`SERVICES`] and [`FLAGS`] (122 columns; names like
    /// `service_http`). A value outside those lists is a parse error.
    All41OneHot,
}

impl KddFeatures {
    /// Column names of `x` for this preset.
    pub fn feature_names(self) -> Vec<String> {
        match self {
            KddFeatures::Alibi18 => KDD_COLUMNS[ALIBI18_START..].iter().map(|s| s.to_string()).collect(),
            KddFeatures::All41OneHot => {
                let mut names = Vec::with_capacity(self.n_features());
                for (j, col) in KDD_COLUMNS.iter().enumerate() {
                    match vocabulary(j) {
                        Some(vocab) => names.extend(vocab.iter().map(|v| format!("{col}_{v}"))),
                        None => names.push(col.to_string()),
                    }
                }
                names
            }
        }
    }

    /// Number of columns of `x` for this preset (18 or 122).
    pub fn n_features(self) -> usize {
        match self {
            KddFeatures::Alibi18 => KDD_COLUMNS.len() - ALIBI18_START,
            KddFeatures::All41OneHot => {
                KDD_COLUMNS.len() - CATEGORICAL.len() + PROTOCOLS.len() + SERVICES.len() + FLAGS.len()
            }
        }
    }
}

/// A loaded KDD Cup '99 file: features, labels and attack families, in file order.
#[derive(Debug, Clone)]
pub struct KddData {
    /// Feature matrix, one row per connection.
    pub x: Array2<f32>,
    /// True for every non-normal connection (Alibi's outlier target).
    pub is_attack: Vec<bool>,
    /// Raw label without the trailing dot (`normal`, `smurf`, …).
    pub label: Vec<String>,
    /// Attack family of each row.
    pub family: Vec<AttackFamily>,
    /// Names of the columns of `x`.
    pub feature_names: Vec<String>,
}

/// Locate (see [`locate`]) and load the 10 % file (`percent10 = true`) or the full training set.
pub fn fetch_kdd(percent10: bool, features: KddFeatures) -> Result<KddData> {
    let spec = if percent10 { &KDD_10_PERCENT } else { &KDD_FULL };
    load_kdd(&locate(spec, None)?, features)
}

/// Load a KDD Cup '99 file, gzip or plain.
pub fn load_kdd(path: &Path, features: KddFeatures) -> Result<KddData> {
    read_kdd(open_data_file(path)?, &path.display().to_string(), features)
}

/// Parse KDD Cup '99 lines from any reader; `source_name` names it in errors.
///
/// Blank lines are skipped. A line with other than 42 fields, a non-numeric
/// feature, an unknown label or (for [`KddFeatures::All41OneHot`]) an unknown
/// category is an [`OddityError::Parse`] with its 1-based line number.
pub fn read_kdd<R: BufRead>(reader: R, source_name: &str, features: KddFeatures) -> Result<KddData> {
    const N_FIELDS: usize = 42;
    let width = features.n_features();
    let mut values: Vec<f32> = Vec::with_capacity(width * 1024);
    let mut label = Vec::new();
    let mut family = Vec::new();
    let mut row = vec![0f32; width];

    for_each_record(reader, source_name, |line_no, fields| {
        let err = |column: Option<usize>, reason: String| parse_error(source_name, line_no, column, reason);
        if fields.len() != N_FIELDS {
            return Err(err(None, format!("expected {N_FIELDS} comma-separated fields, found {}", fields.len())));
        }
        let raw_label = fields[41].trim();
        let name = raw_label.trim_end_matches('.');
        let fam = AttackFamily::from_label(name).ok_or_else(|| {
            err(Some(42), format!("unknown label {raw_label:?}: not one of the 23 KDD Cup '99 training labels"))
        })?;

        let mut out = 0;
        for (j, field) in fields[..41].iter().enumerate() {
            if let Some(vocab) = vocabulary(j) {
                if features == KddFeatures::All41OneHot {
                    let value = field.trim();
                    let hit = vocab
                        .binary_search(&value)
                        .map_err(|_| err(Some(j + 1), format!("unknown {} value {value:?}", KDD_COLUMNS[j])))?;
                    row[out..out + vocab.len()].fill(0.0);
                    row[out + hit] = 1.0;
                    out += vocab.len();
                }
                continue;
            }
            let v = parse_f32(field).ok_or_else(|| {
                err(Some(j + 1), format!("{}: expected a finite number, found {:?}", KDD_COLUMNS[j], show(field)))
            })?;
            if features == KddFeatures::All41OneHot || j >= ALIBI18_START {
                row[out] = v;
                out += 1;
            }
        }
        values.extend_from_slice(&row);
        label.push(name.to_string());
        family.push(fam);
        Ok(())
    })?;

    if family.is_empty() {
        return Err(OddityError::EmptyInput(format!("{source_name} holds no KDD rows")));
    }
    let x = Array2::from_shape_vec((family.len(), width), values)
        .map_err(|e| OddityError::EmptyInput(format!("{source_name}: {e}")))?;
    Ok(KddData {
        x,
        is_attack: family.iter().map(|f| f.is_attack()).collect(),
        label,
        family,
        feature_names: features.feature_names(),
    })
}

/// The fixed vocabulary of raw column `j`, if it is categorical.
fn vocabulary(j: usize) -> Option<&'static [&'static str]> {
    match j {
        1 => Some(&PROTOCOLS),
        2 => Some(&SERVICES),
        3 => Some(&FLAGS),
        _ => None,
    }
}

/// A finite number, or `None`.
pub(crate) fn parse_f32(field: &str) -> Option<f32> {
    field.trim().parse::<f32>().ok().filter(|v| v.is_finite())
}

/// A field for an error message (shortened).
pub(crate) fn show(field: &str) -> String {
    crate::io::csv::shorten(field).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A synthetic line: feature values `base`, chosen categories and `label`.
    fn line(base: f32, proto: &str, service: &str, flag: &str, label: &str) -> String {
        let mut f: Vec<String> = (0..41).map(|j| format!("{}", base + j as f32)).collect();
        f[1] = proto.into();
        f[2] = service.into();
        f[3] = flag.into();
        f.push(label.into());
        f.join(",")
    }

    fn sample() -> String {
        [
            line(0.0, "tcp", "http", "SF", "normal."),
            line(100.0, "icmp", "ecr_i", "SF", "smurf."),
            line(200.0, "udp", "aol", "REJ", "guess_passwd."),
            line(300.0, "tcp", "Z39_50", "S0", "rootkit."),
            line(400.0, "tcp", "private", "RSTO", "satan."),
        ]
        .join("\n")
            + "\n"
    }

    fn read(text: &str, features: KddFeatures) -> Result<KddData> {
        read_kdd(text.as_bytes(), "test.csv", features)
    }

    #[test]
    fn alibi18_keeps_columns_23_to_40() {
        let d = read(&sample(), KddFeatures::Alibi18).unwrap();
        assert_eq!(d.x.dim(), (5, 18));
        assert_eq!(d.feature_names.len(), 18);
        assert_eq!(d.feature_names[0], "srv_count");
        assert_eq!(d.feature_names[17], "dst_host_srv_rerror_rate");
        assert_eq!(d.x[[0, 0]], 23.0);
        assert_eq!(d.x[[1, 17]], 140.0);
        assert_eq!(d.label, ["normal", "smurf", "guess_passwd", "rootkit", "satan"]);
        use AttackFamily::*;
        assert_eq!(d.family, [Normal, Dos, R2l, U2r, Probe]);
        assert_eq!(d.is_attack, [false, true, true, true, true]);
    }

    #[test]
    fn one_hot_has_fixed_columns() {
        let d = read(&sample(), KddFeatures::All41OneHot).unwrap();
        assert_eq!(d.x.ncols(), 38 + 3 + 70 + 11);
        assert_eq!(d.feature_names.len(), d.x.ncols());
        let col = |name: &str| d.feature_names.iter().position(|n| n == name).unwrap();
        assert_eq!(col("duration"), 0);
        assert_eq!(col("protocol_type_icmp"), 1);
        assert_eq!(col("service_IRC"), 4);
        assert_eq!(col("src_bytes"), 4 + 70 + 11);
        assert_eq!(d.x[[0, col("protocol_type_tcp")]], 1.0);
        assert_eq!(d.x[[0, col("service_http")]], 1.0);
        assert_eq!(d.x[[2, col("service_aol")]], 1.0);
        assert_eq!(d.x[[3, col("flag_S0")]], 1.0);
        assert_eq!(d.x[[4, col("src_bytes")]], 404.0);
        assert_eq!(d.x[[4, col("dst_host_srv_rerror_rate")]], 440.0);
        // exactly three ones per row in the one-hot blocks
        for r in 0..5 {
            let ones: f32 = (1..4 + 70 + 11).map(|c| d.x[[r, c]]).sum();
            assert_eq!(ones, 3.0);
        }
    }

    #[test]
    fn vocabularies_are_sorted_and_unique() {
        for vocab in [&PROTOCOLS[..], &SERVICES[..], &FLAGS[..]] {
            assert!(vocab.windows(2).all(|w| w[0] < w[1]), "{vocab:?}");
        }
    }

    #[test]
    fn every_family_has_its_labels() {
        assert_eq!(AttackFamily::from_label("neptune"), Some(AttackFamily::Dos));
        assert_eq!(AttackFamily::from_label("nmap"), Some(AttackFamily::Probe));
        assert_eq!(AttackFamily::from_label("perl"), Some(AttackFamily::U2r));
        assert_eq!(AttackFamily::from_label("spy"), Some(AttackFamily::R2l));
        assert_eq!(AttackFamily::from_label("apache2"), None);
        assert_eq!(AttackFamily::U2r.as_str(), "u2r");
    }

    #[test]
    fn gzip_file_and_crlf_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kdd.gz");
        let text = sample().replace('\n', "\r\n") + "\n";
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let d = load_kdd(&path, KddFeatures::Alibi18).unwrap();
        assert_eq!(d.x.nrows(), 5);
        assert_eq!(d.label[4], "satan");
    }

    fn parse_err(text: &str, features: KddFeatures) -> (usize, Option<usize>, String) {
        match read(text, features) {
            Err(OddityError::Parse { line, column, reason, source_name }) => {
                assert_eq!(source_name, "test.csv");
                (line, column, reason)
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_lines_name_line_and_column() {
        let good = line(0.0, "tcp", "http", "SF", "normal.");
        let short = good.rsplit_once(',').unwrap().0.to_string();
        let (l, c, r) = parse_err(&format!("{good}\n{short}\n"), KddFeatures::Alibi18);
        assert_eq!((l, c), (2, None));
        assert!(r.contains("found 41"), "{r}");

        let bad_num = good.replacen(",5,", ",five,", 1);
        let (l, c, _) = parse_err(&format!("{good}\n\n{bad_num}\n"), KddFeatures::Alibi18);
        assert_eq!((l, c), (3, Some(6)));

        let bad_label = line(0.0, "tcp", "http", "SF", "apache2.");
        let (l, c, r) = parse_err(&format!("{bad_label}\n"), KddFeatures::Alibi18);
        assert_eq!((l, c), (1, Some(42)));
        assert!(r.contains("apache2"), "{r}");

        let nan = good.replacen(",5,", ",nan,", 1);
        let (_, c, _) = parse_err(&nan, KddFeatures::Alibi18);
        assert_eq!(c, Some(6));
    }

    #[test]
    fn unknown_category_only_matters_for_one_hot() {
        let odd = line(0.0, "sctp", "http", "SF", "normal.");
        assert!(read(&odd, KddFeatures::Alibi18).is_ok());
        let (l, c, r) = parse_err(&odd, KddFeatures::All41OneHot);
        assert_eq!((l, c), (1, Some(2)));
        assert!(r.contains("sctp"), "{r}");
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(read("\n\n", KddFeatures::Alibi18), Err(OddityError::EmptyInput(_))));
    }
}
