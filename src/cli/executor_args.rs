//! The flags that choose and configure where pipelines run, shared by every command
//! that runs them.

use crate::executor::kubernetes::{DEFAULT_MAX_ARCHIVE_BYTES, is_label_value};
use crate::executor::{ExecutorKind, Executors, KubeSettings};

/// `--executor` and the Kubernetes executor's settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ExecutorArgs {
    /// Where pipelines run, unless a Promise's promised.dev/executor annotation says.
    #[arg(long, value_enum, default_value = "process", env = "PROMISED_EXECUTOR")]
    pub(crate) executor: ExecutorKind,
    /// Let a Promise's promised.dev/executor annotation pick `process` when --executor
    /// is another: its commands then run on this machine, as this user. Without this
    /// flag, a Promise author cannot leave the containers the operator chose.
    #[arg(long)]
    pub(crate) allow_process_executor: bool,
    /// kubernetes: the namespace of Promise pipelines' Pods, Secrets and default
    /// ServiceAccounts. Request pipelines run in the request's namespace, as in Kratix,
    /// unless --kube-one-namespace.
    #[arg(long, default_value = "default")]
    pub(crate) kube_namespace: String,
    /// kubernetes: run every pipeline in --kube-namespace, request pipelines and
    /// Promises that set spec.workflows.config.pipelineNamespace too.
    #[arg(long)]
    pub(crate) kube_one_namespace: bool,
    /// kubernetes: the API server URL, used without authentication (e.g. behind
    /// `kubectl proxy`) [default: the kubeconfig, or the in-cluster configuration].
    #[arg(long)]
    pub(crate) kube_api_server: Option<String>,
    /// kubernetes: the promised image that hands each Pod's output back.
    #[arg(long, default_value = concat!("promised:", env!("CARGO_PKG_VERSION")))]
    pub(crate) helper_image: String,
    /// kubernetes: the most bytes of compressed output a Pod hands back on its log. The
    /// default keeps the log under the kubelet's default rotation (containerLogMaxSize,
    /// 10 MiB); raise both together.
    #[arg(long, default_value_t = DEFAULT_MAX_ARCHIVE_BYTES)]
    pub(crate) kube_max_handback_bytes: u64,
    /// kubernetes: this reconciler's name among those sharing the namespace, on the
    /// `promised.dev/instance` label of its Pods and Secrets; at start it removes what
    /// an earlier life of it left there. Give each reconciler its own [default: a hash
    /// of the command, repository and branch].
    #[arg(long, value_parser = instance_name)]
    pub(crate) kube_instance: Option<String>,
    /// kubernetes: how long a Pod's watch may stay silent before promised lists the Pod
    /// and watches it anew: a connection that died without closing is noticed within
    /// this time, not at the pipeline's timeout.
    #[arg(long, default_value = "1m", value_parser = recheck_interval)]
    pub(crate) kube_watch_recheck: std::time::Duration,
}

impl ExecutorArgs {
    /// The executors these flags describe, for the reconciler `reconciler` describes
    /// (see [`ExecutorArgs::kube`]).
    pub(crate) fn executors(&self, reconciler: &str) -> Executors {
        Executors::new(
            self.executor,
            self.allow_process_executor,
            &self.kube(reconciler),
        )
    }

    /// Where the API server is and what goes in its namespace. `reconciler` says who
    /// runs (command, repository, branch): the same words give the same instance, so
    /// that a reconciler started again finds what it left.
    pub(crate) fn kube(&self, reconciler: &str) -> KubeSettings {
        use sha2::{Digest, Sha256};
        let instance = self.kube_instance.clone().unwrap_or_else(|| {
            let digest = Sha256::digest(reconciler.as_bytes());
            format!("promised-{}", hex::encode(&digest[..6]))
        });
        KubeSettings {
            api_server: self.kube_api_server.clone(),
            namespace: self.kube_namespace.clone(),
            one_namespace: self.kube_one_namespace,
            watch_recheck: self.kube_watch_recheck,
            helper_image: self.helper_image.clone(),
            max_handback_bytes: self.kube_max_handback_bytes,
            instance,
        }
    }
}

/// `--kube-watch-recheck`: a duration of at least a second, so that a silent watch is
/// never given up in a loop.
fn recheck_interval(value: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if duration < std::time::Duration::from_secs(1) {
        return Err("at least 1s".into());
    }
    Ok(duration)
}

/// `--kube-instance`: a label value, as it is (nothing changed in it silently).
fn instance_name(value: &str) -> Result<String, String> {
    if !value.is_empty() && is_label_value(value) {
        Ok(value.to_string())
    } else {
        Err("a label value: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_a_label_value_given_as_it_is() {
        assert_eq!(
            instance_name("platform-prod.eu_1").unwrap(),
            "platform-prod.eu_1"
        );
        let long = "a".repeat(64);
        for refused in ["", "-prod", "prod.", "a b", "prod/eu", "ünï", long.as_str()] {
            assert!(instance_name(refused).is_err(), "{refused:?}");
        }
    }
}
