//! libvirt (the vagrant-libvirt plugin) at a local URI: `virsh list --uuid` by state.
//!
//! vagrant-libvirt says `not_created` when the machine has no id or libvirt has no domain of
//! that UUID, `preparing` for the placeholder id, and otherwise fog's name of the domain's
//! state (`running`, `paused`, `shutoff`, ...). A running domain whose address it cannot read
//! in time it calls `inaccessible`; the listing cannot tell that and says `running`.

use std::collections::HashSet;
use std::time::Duration;

use super::listing::run;
use super::{Answer, Lookup};

/// The `virsh list` state filters asked, and the state each means.
const FILTERS: [(&str, &str); 3] = [
    ("--state-running", "running"),
    ("--state-paused", "paused"),
    ("--state-shutoff", "shutoff"),
];

pub(super) async fn states(
    lookups: &[Lookup],
    uri: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Vec<Answer> {
    let mut listings = Vec::new();
    if uri.starts_with("qemu:///") && lookups.iter().any(|l| l.id.is_some()) {
        for filter in ["--all"].into_iter().chain(FILTERS.map(|(f, _)| f)) {
            let args = ["-c", uri, "list", "--uuid", filter].map(String::from);
            match run("virsh", &args, env, timeout).await {
                Some(listed) if listed.success => listings.push(listed.stdout),
                _ => {
                    listings.clear();
                    break;
                }
            }
        }
    }
    answer(lookups, (listings.len() == 4).then_some(&listings[..]))
}

/// The answers from the outputs of `virsh list --uuid` with `--all` and each of [`FILTERS`].
pub(super) fn answer(lookups: &[Lookup], listings: Option<&[String]>) -> Vec<Answer> {
    let sets: Option<Vec<HashSet<&str>>> = listings.map(|l| {
        l.iter()
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .collect()
    });
    lookups
        .iter()
        .map(|lookup| {
            let Some(id) = lookup.id.as_deref() else {
                return Answer::State("not_created".into());
            };
            if id == "preparing" {
                return Answer::State("preparing".into());
            }
            let Some(sets) = &sets else {
                return Answer::Unsure;
            };
            if !sets[0].contains(id) {
                return Answer::State("not_created".into());
            }
            FILTERS
                .iter()
                .zip(&sets[1..])
                .find(|(_, set)| set.contains(id))
                .map(|((_, state), _)| Answer::State((*state).into()))
                .unwrap_or(Answer::Unsure)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_listings_map_to_vagrant_libvirts_states() {
        let uuid = |n: u8| format!("5e7d1c2a-0000-4000-8000-00000000000{n}");
        // `virsh -c qemu:///system list --uuid --all`, then running, paused, shut off (a
        // blank line ends each listing, as virsh prints it).
        let listings = [
            format!("{}\n{}\n{}\n{}\n\n", uuid(1), uuid(2), uuid(3), uuid(4)),
            format!("{}\n\n", uuid(1)),
            format!("{}\n\n", uuid(2)),
            format!("{}\n\n", uuid(3)),
        ];
        let lookups: Vec<Lookup> = [
            Some(uuid(1)),
            Some(uuid(2)),
            Some(uuid(3)),
            Some(uuid(4)),
            Some(uuid(9)),
            None,
            Some("preparing".into()),
        ]
        .into_iter()
        .map(|id| Lookup {
            id,
            data_dir: "/x".into(),
        })
        .collect();
        let state = |s: &str| Answer::State(s.into());
        assert_eq!(
            answer(&lookups, Some(&listings)),
            [
                state("running"),
                state("paused"),
                state("shutoff"),
                // Crashed, shutting down, suspended: in none of the three, Vagrant says.
                Answer::Unsure,
                state("not_created"),
                state("not_created"),
                state("preparing"),
            ]
        );
        assert_eq!(answer(&lookups[..1], None), [Answer::Unsure]);
    }
}
