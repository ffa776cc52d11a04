//! Claims: which worker is training a run, so that many workers (processes, Slurm array tasks,
//! machines sharing a folder over NFS) can work through one grid without touching each other's
//! runs.
//!
//! A claim is the file `RUN/claim.json` ([`CLAIM`]): the worker's host, process id, a random
//! token, when it started and its last heartbeat. It is made the NFS-safe way, without
//! `flock`/`fcntl`: the worker writes its claim in full under a name of its own, then
//! hard-links it to `claim.json`, which fails if the name exists (`link` is atomic on local
//! filesystems and NFS alike); so at most one worker holds a run, and nobody ever reads a
//! half-written claim. While it trains, a thread rewrites the claim (temporary file + rename)
//! every [`heartbeat_period`]; when the run ends the worker removes it.
//!
//! A claim whose heartbeat is older than the grace period is **stale**: its worker died (killed,
//! out of memory, node lost). So is, at once, a claim made on this host by a process that no
//! longer exists (`/proc/PID` gone): a run killed here can be resumed right away. Another worker takes it over by renaming it away (only one rename
//! of one file can succeed), checks that what it renamed is the stale claim it judged, and
//! claims the run; the run is then resumed from its checkpoint. Heartbeats are read against the
//! reader's clock, so the grace period must also cover clock skew between machines (minutes by
//! default).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fsio::{read_text, write_json};
pub use crate::run_files::CLAIM;

/// How old a heartbeat may be before its claim is taken over, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);

/// What a claim file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// The worker's host name.
    pub host: String,
    /// The worker's process id (on its host).
    pub pid: u32,
    /// Unique to this claim: tells a worker's own claim from another's.
    pub token: String,
    /// When the worker claimed the run (seconds since the Unix epoch, the worker's clock).
    pub started: u64,
    /// The worker's last heartbeat (seconds since the Unix epoch, the worker's clock).
    pub heartbeat: u64,
}

impl ClaimInfo {
    /// Seconds since the heartbeat, by this machine's clock (0 for a heartbeat in the future).
    pub fn age(&self) -> u64 {
        now().saturating_sub(self.heartbeat)
    }

    /// Whether the claim's worker is gone: its heartbeat is older than `grace`, or it was made
    /// on this host by a process that no longer runs.
    pub fn is_stale(&self, grace: Duration) -> bool {
        self.age() > grace.as_secs() || self.process_gone()
    }

    /// Whether the claim was made on this host by a process that no longer exists (Linux:
    /// `/proc/PID`; elsewhere never known, so only the heartbeat counts).
    fn process_gone(&self) -> bool {
        self.host == host_name()
            && Path::new("/proc/self").exists()
            && !Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

/// What a run folder's claim says.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimState {
    /// No claim.
    Free,
    /// Claimed, heartbeat within the grace period.
    Live(ClaimInfo),
    /// Claimed, heartbeat older than the grace period: its worker is gone.
    Stale(ClaimInfo),
    /// A `claim.json` that is not a claim (written by something else): left alone.
    Damaged(String),
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// How often a live claim's heartbeat is rewritten for a grace period: a tenth of it, between
/// 1 and 60 seconds.
pub fn heartbeat_period(grace: Duration) -> Duration {
    (grace / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The claim of the run folder `dir`.
pub fn state(dir: &Path, grace: Duration) -> ClaimState {
    match read_claim(&dir.join(CLAIM)) {
        Ok(None) => ClaimState::Free,
        Ok(Some(info)) if info.is_stale(grace) => ClaimState::Stale(info),
        Ok(Some(info)) => ClaimState::Live(info),
        Err(why) => ClaimState::Damaged(why),
    }
}

/// The claim in `path`: `None` where there is none, `Err` (why) where the file is not a claim.
fn read_claim(path: &Path) -> Result<Option<ClaimInfo>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let text = match read_text(path) {
        Ok(text) => text,
        // Removed between the check and the read: released.
        Err(_) if !path.exists() => return Ok(None),
        Err(e) => return Err(crate::error::report(&e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is not a claim ({e})", path.display()))
}

/// A run this worker holds. Its heartbeat runs until it is dropped, which removes the claim
/// (and the run folder, if the claim created it and nothing else was written there).
pub struct Claim {
    dir: PathBuf,
    token: String,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
    /// False for a claim this process already held (a grid's run trained by the grid's own
    /// process): the outer holder keeps the heartbeat and removes it.
    owned: bool,
    /// Whether acquiring it created the run folder.
    created: bool,
}

/// What [`Claim::acquire`] found.
pub enum Acquired {
    /// The run is this worker's now; `took_over` holds the stale claim it replaced.
    Mine {
        /// The claim.
        claim: Claim,
        /// The stale claim taken over, if any.
        took_over: Option<ClaimInfo>,
    },
    /// Another worker holds it.
    Busy(ClaimInfo),
    /// `claim.json` is not a claim: nothing was touched.
    Damaged(String),
}

impl Claim {
    /// Claims the run folder `dir` (created if missing) for this process, taking over a claim
    /// whose heartbeat is older than `grace`; starts the heartbeat.
    pub fn acquire(dir: &Path, grace: Duration) -> crate::Result<Acquired> {
        let created = !dir.exists();
        crate::fsio::create_dir(dir)?;
        let mut took_over = None;
        // Each pass either claims, finds the run busy or damaged, or removes a stale claim
        // and tries again; a few passes are enough unless workers keep dying in between.
        for _ in 0..8 {
            let info = new_info();
            if try_link(dir, &info)? {
                return Ok(Acquired::Mine {
                    claim: Claim::start(dir, info.token, grace, created),
                    took_over,
                });
            }
            match state(dir, grace) {
                ClaimState::Free => continue,
                ClaimState::Live(other) if other.host == info.host && other.pid == info.pid => {
                    // This process holds it already (a grid training its own run).
                    return Ok(Acquired::Mine {
                        claim: Claim::held(dir, other.token),
                        took_over: None,
                    });
                }
                ClaimState::Live(other) => return Ok(Acquired::Busy(other)),
                ClaimState::Damaged(why) => return Ok(Acquired::Damaged(why)),
                ClaimState::Stale(stale) => {
                    if remove_stale(dir, &stale)? {
                        took_over = Some(stale);
                    }
                }
            }
        }
        match state(dir, grace) {
            ClaimState::Live(other) | ClaimState::Stale(other) => Ok(Acquired::Busy(other)),
            ClaimState::Damaged(why) => Ok(Acquired::Damaged(why)),
            ClaimState::Free => Err(Error::Invalid(format!(
                "could not claim {}: its claim kept changing",
                dir.display()
            ))),
        }
    }

    fn held(dir: &Path, token: String) -> Claim {
        Claim {
            dir: dir.to_path_buf(),
            token,
            stop: Arc::new(AtomicBool::new(true)),
            lost: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
            owned: false,
            created: false,
        }
    }

    fn start(dir: &Path, token: String, grace: Duration, created: bool) -> Claim {
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = {
            let (dir, token) = (dir.to_path_buf(), token.clone());
            let (stop, lost) = (stop.clone(), lost.clone());
            let period = heartbeat_period(grace);
            std::thread::Builder::new()
                .name("claim-heartbeat".into())
                .spawn(move || beat(&dir, &token, period, &stop, &lost))
                .ok()
        };
        Claim {
            dir: dir.to_path_buf(),
            token,
            stop,
            lost,
            heartbeat,
            owned: true,
            created,
        }
    }

    /// Whether another worker took the run over (this worker's heartbeats stopped reaching the
    /// folder for longer than the grace period): its results must not be written.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || !self.is_mine()
    }

    fn is_mine(&self) -> bool {
        matches!(read_claim(&self.dir.join(CLAIM)), Ok(Some(info)) if info.token == self.token)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.heartbeat.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        if self.owned && self.is_mine() {
            let _ = std::fs::remove_file(self.dir.join(CLAIM));
            if self.created {
                // Only if empty: a run that could not start leaves no folder behind.
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

fn new_info() -> ClaimInfo {
    let (host, pid, t) = (host_name(), std::process::id(), now());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    ClaimInfo {
        token: format!("{host}-{pid}-{t}-{nanos}-{:08x}", rand::random::<u32>()),
        host,
        pid,
        started: t,
        heartbeat: t,
    }
}

/// A name of this claim's own beside `claim.json`.
fn private_path(dir: &Path, token: &str, what: &str) -> PathBuf {
    dir.join(format!(".{CLAIM}.{token}.{what}"))
}

/// Writes `info` under a private name and links it to `claim.json`: true if this made the claim.
fn try_link(dir: &Path, info: &ClaimInfo) -> crate::Result<bool> {
    let own = private_path(dir, &info.token, "new");
    write_json(&own, info)?;
    let linked = std::fs::hard_link(&own, dir.join(CLAIM));
    let _ = std::fs::remove_file(&own);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::file("create", &dir.join(CLAIM), e)),
    }
}

/// Renames the stale claim `stale` away; true if this worker removed it. If what it renamed is
/// not `stale` (another worker claimed the run in between), that claim is put back.
fn remove_stale(dir: &Path, stale: &ClaimInfo) -> crate::Result<bool> {
    let moved = private_path(dir, &stale.token, &format!("stale-{}", std::process::id()));
    match std::fs::rename(dir.join(CLAIM), &moved) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::file("rename", &dir.join(CLAIM), e)),
    }
    let ours = matches!(read_claim(&moved), Ok(Some(info)) if info.token == stale.token);
    if !ours {
        // Someone's fresh claim: back under its name (unless yet another claim is there now).
        let _ = std::fs::hard_link(&moved, dir.join(CLAIM));
    }
    let _ = std::fs::remove_file(&moved);
    Ok(ours)
}

/// The heartbeat: rewrites the claim every `period` while it is still this worker's.
fn beat(dir: &Path, token: &str, period: Duration, stop: &AtomicBool, lost: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(period);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let path = dir.join(CLAIM);
        match read_claim(&path) {
            Ok(Some(mut info)) if info.token == token => {
                info.heartbeat = now();
                // Through a private temporary file: the rename replaces the claim whole.
                let tmp = private_path(dir, token, "beat");
                let written = serde_json::to_string_pretty(&info)
                    .ok()
                    .and_then(|text| std::fs::write(&tmp, text).ok())
                    .and_then(|()| std::fs::rename(&tmp, &path).ok());
                if written.is_none() {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
            _ => {
                lost.store(true, Ordering::SeqCst);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_claim(dir: &Path, heartbeat: u64) -> ClaimInfo {
        let mut info = new_info();
        info.heartbeat = heartbeat;
        info.pid = 1;
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(CLAIM), serde_json::to_string(&info).unwrap()).unwrap();
        info
    }

    #[test]
    fn one_claim_per_run_released_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let grace = Duration::from_secs(60);
        let Acquired::Mine { claim, took_over } = Claim::acquire(&dir, grace).unwrap() else {
            panic!("a free run is claimed");
        };
        assert!(took_over.is_none() && !claim.lost());
        let ClaimState::Live(info) = state(&dir, grace) else {
            panic!("the claim is live")
        };
        assert_eq!(
            (info.pid, info.host.clone()),
            (std::process::id(), host_name())
        );
        // The same process claiming again (a grid's run trained by the grid's process) holds
        // it already; dropping that inner claim leaves the outer one in place.
        let Acquired::Mine { claim: inner, .. } = Claim::acquire(&dir, grace).unwrap() else {
            panic!("this process holds it");
        };
        drop(inner);
        assert_eq!(state(&dir, grace), ClaimState::Live(info));
        drop(claim);
        assert_eq!(state(&dir, grace), ClaimState::Free);
        // The claim made the folder and nothing else was written: both are gone.
        assert!(!dir.exists());
        // A folder that was there stays, without the claim or any private file.
        std::fs::create_dir_all(&dir).unwrap();
        drop(Claim::acquire(&dir, grace).unwrap());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn a_stale_claim_is_taken_over_and_its_worker_learns_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let grace = Duration::from_secs(60);
        let old = write_claim(&dir, now() - 61);
        assert!(matches!(state(&dir, grace), ClaimState::Stale(_)));
        let Acquired::Mine { claim, took_over } = Claim::acquire(&dir, grace).unwrap() else {
            panic!("a stale claim is taken over");
        };
        assert_eq!(took_over, Some(old));
        assert!(!claim.lost());
        // Its old worker, were it alive, would find its token gone: `lost`.
        let stolen = write_claim(&dir, now());
        assert!(claim.lost());
        drop(claim);
        // Dropping a lost claim leaves the new owner's claim alone.
        assert_eq!(state(&dir, grace), ClaimState::Live(stolen));
    }

    #[test]
    fn a_live_claim_is_left_alone_and_garbage_is_reported_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let grace = Duration::from_secs(60);
        let live = write_claim(&dir, now() - 30);
        assert!(matches!(Claim::acquire(&dir, grace).unwrap(), Acquired::Busy(i) if i == live));
        std::fs::write(dir.join(CLAIM), "garbage{").unwrap();
        let Acquired::Damaged(why) = Claim::acquire(&dir, grace).unwrap() else {
            panic!("garbage is not a claim");
        };
        assert!(why.contains("claim.json is not a claim"), "{why}");
        assert_eq!(
            std::fs::read_to_string(dir.join(CLAIM)).unwrap(),
            "garbage{"
        );
    }

    #[test]
    fn the_heartbeat_keeps_a_claim_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let grace = Duration::from_secs(2);
        let Acquired::Mine { claim, .. } = Claim::acquire(&dir, grace).unwrap() else {
            panic!("claimed");
        };
        // Age the claim by hand; the heartbeat (every second) brings it back.
        let mut info: ClaimInfo =
            serde_json::from_str(&std::fs::read_to_string(dir.join(CLAIM)).unwrap()).unwrap();
        info.heartbeat -= 100;
        std::fs::write(dir.join(CLAIM), serde_json::to_string(&info).unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !matches!(state(&dir, grace), ClaimState::Live(_)) {
            assert!(std::time::Instant::now() < deadline, "no heartbeat");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!claim.lost());
    }
}
