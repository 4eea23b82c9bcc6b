//! What a connection asks the cluster (`--redis` only): a rename checked against every node's
//! names, and a direct message to a connection on another node. Kept out of
//! [`super::connection`] so that the single-node path reads as before.

use crate::actors::directory::Refusal;
use crate::cluster::{Cluster, InboxDirect};
use crate::protocol::names::{name_key, validate_display_name};
use crate::protocol::ErrorCode;

/// Before a rename: claims `new` in the cluster. `Ok(true)`: claimed (release it with
/// [`rename_refused`] if the directory refuses); `Ok(false)`: nothing to claim (no cluster, an
/// invalid name the directory refuses, or only the case changes); `Err`: refuse the rename.
pub async fn reserve_rename(
    cluster: Option<&Cluster>,
    id: u64,
    current: &str,
    new: &str,
) -> Result<bool, Refusal> {
    let Some(cluster) = cluster else {
        return Ok(false);
    };
    let Ok(name) = validate_display_name(new) else {
        return Ok(false);
    };
    if name_key(&name) == name_key(current) {
        return Ok(false);
    }
    match cluster.claim_name(id, &name, None).await {
        Ok(true) => Ok(true),
        Ok(false) => Err((
            ErrorCode::NameTaken,
            format!("the name {name:?} is taken; pick another"),
        )),
        Err(error) => {
            tracing::warn!(connection = id, %error, "cluster: cannot check a name");
            Err((
                ErrorCode::Unavailable,
                "names cannot be checked right now (the cluster's Redis is unreachable); try again"
                    .to_owned(),
            ))
        }
    }
}

/// After the directory accepted a rename: the old name is free in the cluster.
pub async fn renamed(cluster: Option<&Cluster>, id: u64, old: &str, new: &str) {
    if let Some(cluster) = cluster {
        if name_key(old) != name_key(new) {
            let _ = cluster.release_name(id, old).await;
        }
    }
}

/// After the directory refused a rename that [`reserve_rename`] claimed: free it again.
pub async fn rename_refused(cluster: Option<&Cluster>, id: u64, new: &str, claimed: bool) {
    if let (Some(cluster), true) = (cluster, claimed) {
        if let Ok(name) = validate_display_name(new) {
            let _ = cluster.release_name(id, &name).await;
        }
    }
}

/// A direct message to a connection of another node (the local directory did not know `to`).
/// `Ok(Some(name))`: stored in the recipient's node's inbox; `Err`: refuse with this.
pub async fn direct_elsewhere(
    cluster: Option<&Cluster>,
    message: &InboxDirect,
) -> Result<String, Refusal> {
    let unknown = || {
        (
            ErrorCode::UnknownRecipient,
            format!("no connection with id {} is online", message.to_id),
        )
    };
    let Some(cluster) = cluster else {
        return Err(unknown());
    };
    match cluster.send_direct(message).await {
        Ok(Some(name)) => Ok(name),
        Ok(None) => Err(unknown()),
        Err(error) => {
            tracing::warn!(to = message.to_id, %error, "cluster: a direct message not sent");
            Err((
                ErrorCode::Unavailable,
                "could not send it right now (the cluster's Redis is unreachable)".to_owned(),
            ))
        }
    }
}
