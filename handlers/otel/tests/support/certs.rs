//! Test certificates made per run with the `openssl` command: a CA, a server certificate for
//! `127.0.0.1` and `localhost` signed by it, a client certificate signed by it (mTLS), a server
//! certificate signed by it that expired long ago (`openssl ca` with a start and end date in the
//! past), and a second, unrelated CA (the "wrong CA" case).
//!
//! Self-contained (std only), so other test suites can include it with
//! `#[path = "<dir>/certs.rs"] mod certs;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of one run.
pub struct Certs {
    /// Their directory (removed on drop).
    pub dir: PathBuf,
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// The server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The client certificate (extended key usage clientAuth) and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    /// A server certificate signed by the CA (same names as `server_cert`) valid only from
    /// 2000-01-01 to 2000-01-02, and its key.
    pub expired_server_cert: PathBuf,
    pub expired_server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the openssl command is required for the TLS tests: {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `{name}.key` (P-256) and its certificate request `{name}.csr` with CN `name`.
fn key_and_request(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// `{name}.ext`: a leaf for 127.0.0.1 / localhost with extended key usage `usage`.
fn leaf_extensions(dir: &Path, name: &str, usage: &str) {
    let ext = format!(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write the extensions");
}

fn leaf(dir: &Path, name: &str, usage: &str) {
    key_and_request(dir, name);
    leaf_extensions(dir, name, usage);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// The minimal `openssl ca` configuration: a database in the directory, any subject.
const CA_CONFIG: &str = "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = index.txt\n\
                         new_certs_dir = .\nserial = ca.srl\ndefault_md = sha256\n\
                         policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n";

/// A server certificate signed by `ca.pem` whose validity ended in 2000 (`openssl x509` in
/// OpenSSL 3.0 cannot set a start date; `openssl ca` can).
fn expired_leaf(dir: &Path, name: &str) {
    key_and_request(dir, name);
    leaf_extensions(dir, name, "serverAuth");
    std::fs::write(dir.join("ca.cnf"), CA_CONFIG).expect("write the openssl ca configuration");
    std::fs::write(dir.join("index.txt"), "").expect("write the openssl ca database");
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            "20000101000000Z",
            "-enddate",
            "20000102000000Z",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

impl Certs {
    /// Makes every file in a new directory under the system's temporary directory.
    pub fn make(tag: &str) -> Certs {
        let dir =
            std::env::temp_dir().join(format!("llm-telemetry-certs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        ca(&dir, "ca");
        ca(&dir, "other-ca");
        leaf(&dir, "server", "serverAuth");
        leaf(&dir, "client", "clientAuth");
        expired_leaf(&dir, "expired-server");
        Certs {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
            expired_server_cert: dir.join("expired-server.pem"),
            expired_server_key: dir.join("expired-server.key"),
            dir,
        }
    }

    /// The Phoenix environment that turns TLS on with these files (and, with `verify_client`,
    /// requires client certificates signed by the CA).
    pub fn phoenix_env(&self, verify_client: bool) -> Vec<(&'static str, String)> {
        let path = |p: &PathBuf| p.display().to_string();
        let mut env = vec![
            ("PHOENIX_TLS_ENABLED", "true".to_owned()),
            ("PHOENIX_TLS_CERT_FILE", path(&self.server_cert)),
            ("PHOENIX_TLS_KEY_FILE", path(&self.server_key)),
        ];
        if verify_client {
            env.push(("PHOENIX_TLS_CA_FILE", path(&self.ca)));
            env.push(("PHOENIX_TLS_VERIFY_CLIENT", "true".to_owned()));
        }
        env
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
