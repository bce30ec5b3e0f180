//! Host-level calls: `vagrant box list` (and `box outdated --global`), `vagrant global-status
//! --prune`, `vagrant --version` and `vagrant plugin list`, run outside any instance folder.

use std::ffi::OsString;
use std::path::Path;

use jeto_core::{BoxInfo, GlobalMachine, Host, PluginInfo, ProviderError, ToolInfo};

use crate::machine_readable::Record;
use crate::provider::{Collected, Keep};
use crate::runner::ProcessEnd;
use crate::VagrantProvider;

impl VagrantProvider {
    /// Runs a host-level vagrant command, from `/`: no instance's Vagrantfile is loaded and no
    /// `.vagrant` folder is made. (Not `VAGRANT_VAGRANTFILE`: the global status's pruning loads
    /// each indexed folder's own Vagrantfile, and would then miss it.)
    async fn host_call(
        &self,
        host: Option<&Host>,
        args: &[&str],
        keep: Keep,
    ) -> Result<Collected, ProviderError> {
        let mut env: Vec<(String, String)> = self.config().env.clone().into_iter().collect();
        if let Some(host) = host {
            env.push(("VAGRANT_DEFAULT_PROVIDER".into(), host.provider.clone()));
            env.extend(host.params.iter().map(|(k, v)| (k.into(), v.into())));
        }
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let what = args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let (end, collected) = self
            .spawn(
                Path::new("/"),
                env,
                args,
                self.config().status_timeout(),
                None,
                keep,
            )
            .await?;
        if end != ProcessEnd::Exited(0) {
            let said = collected
                .summary
                .error()
                .map(|e| e.message)
                .unwrap_or_else(|| collected.tail.join("\n"));
            return Err(ProviderError::Other {
                context: format!("`vagrant {what}` ended {end:?}"),
                source: said.into(),
            });
        }
        Ok(collected)
    }

    pub(crate) async fn list_boxes(
        &self,
        host: &Host,
        outdated: bool,
    ) -> Result<Vec<BoxInfo>, ProviderError> {
        let listed = self
            .host_call(
                Some(host),
                &["box", "list"],
                Keep::Records(&["box-name", "box-provider", "box-version"]),
            )
            .await?;
        let mut boxes = box_list(&listed.records);
        if outdated && !boxes.is_empty() {
            let checked = self
                .host_call(
                    Some(host),
                    &["box", "outdated", "--global"],
                    Keep::Records(&["ui"]),
                )
                .await?;
            mark_outdated(&mut boxes, &checked.records);
        }
        Ok(boxes)
    }

    pub(crate) async fn machines_everywhere(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        let listed = self
            .host_call(
                None,
                &["global-status", "--prune"],
                Keep::Records(&["machine-id", "provider-name", "machine-home", "state", "ui"]),
            )
            .await?;
        Ok(global_machines(&listed.records))
    }

    pub(crate) async fn tool(&self) -> Result<ToolInfo, ProviderError> {
        let version = self.host_call(None, &["--version"], Keep::Raw).await?;
        let version = version
            .raw
            .iter()
            .find_map(|l| l.trim().strip_prefix("Vagrant "))
            .unwrap_or("unknown")
            .to_owned();
        let plugins = self
            .host_call(
                None,
                &["plugin", "list"],
                Keep::Records(&["plugin-name", "plugin-version"]),
            )
            .await?;
        let mut tool = ToolInfo::new("vagrant", version);
        tool.plugins = plugin_list(&plugins.records);
        Ok(tool)
    }
}

/// `box-name`, `box-provider`, `box-version` records, in that order per box.
fn box_list(records: &[Record]) -> Vec<BoxInfo> {
    let mut boxes: Vec<BoxInfo> = Vec::new();
    for record in records {
        let value = record.value().unwrap_or_default();
        match (record.kind.as_str(), boxes.last_mut()) {
            ("box-name", _) => boxes.push(BoxInfo::new(value, "", "")),
            ("box-provider", Some(last)) => last.provider = value.to_owned(),
            ("box-version", Some(last)) => last.version = value.to_owned(),
            _ => {}
        }
    }
    boxes
}

/// Reads `box outdated --global`'s lines (Vagrant gives no records for it):
/// `* 'NAME' for 'PROVIDER' is outdated! Current: X. Latest: Y` and
/// `* 'NAME' for 'PROVIDER' (vX) is up to date`; a box from no catalog stays `null`.
fn mark_outdated(boxes: &mut [BoxInfo], records: &[Record]) {
    for (_, text) in records.iter().filter_map(Record::ui) {
        let Some(rest) = text.trim().strip_prefix("* '") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once("' for '") else {
            continue;
        };
        let Some((provider, rest)) = rest.split_once('\'') else {
            continue;
        };
        let found = boxes
            .iter_mut()
            .find(|b| b.name == name && b.provider == provider);
        let Some(found) = found else { continue };
        if let Some((_, latest)) = rest.split_once("Latest: ") {
            found.outdated = Some(true);
            found.latest_version = Some(latest.trim().to_owned());
        } else if rest.trim_end().ends_with("is up to date") {
            found.outdated = Some(false);
            found.latest_version = Some(found.version.clone());
        }
    }
}

/// `machine-id` starts an entry; `provider-name`, `machine-home` and `state` follow. Vagrant
/// 2.3 drops the machine name from those records (it passes the target under a string key),
/// so the name is read from the table it prints too: after the dashed line, one `ui` record
/// per cell (id, name, provider, state, directory) and an empty one per row.
fn global_machines(records: &[Record]) -> Vec<GlobalMachine> {
    let mut machines: Vec<GlobalMachine> = Vec::new();
    for record in records {
        let value = record.value().unwrap_or_default().to_owned();
        match (record.kind.as_str(), machines.last_mut()) {
            ("machine-id", _) => machines.push(GlobalMachine::new(value, &record.target)),
            ("provider-name", Some(last)) => last.provider = value,
            ("machine-home", Some(last)) => last.directory = value,
            ("state", Some(last)) => last.state = value,
            _ => {}
        }
    }
    let cells: Vec<&str> = records
        .iter()
        .filter_map(Record::ui)
        .map(|(_, text)| text.trim())
        .skip_while(|text| !text.starts_with("---"))
        .skip(1)
        .collect();
    for row in cells.split(|cell| cell.is_empty()) {
        if let [id, name, ..] = row {
            for machine in machines
                .iter_mut()
                .filter(|m| &m.id == id && m.name.is_empty())
            {
                machine.name = (*name).to_owned();
            }
        }
    }
    machines
}

/// `plugin-name` records, each followed by its `plugin-version` (targeted at the name).
fn plugin_list(records: &[Record]) -> Vec<PluginInfo> {
    records
        .iter()
        .filter(|r| r.kind == "plugin-name")
        .filter_map(|r| {
            let name = r.value()?.to_owned();
            let version = records
                .iter()
                .find(|v| v.kind == "plugin-version" && v.target == name)
                .and_then(Record::value)
                .unwrap_or_default()
                .to_owned();
            Some(PluginInfo { name, version })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine_readable::records_of as records;

    #[test]
    fn boxes_and_whether_they_are_outdated() {
        let mut boxes = box_list(&records(
            "1,,box-name,team/base\n1,,box-provider,jeto_fake\n1,,box-version,1.0.0\n\
             1,,box-name,local/plain\n1,,box-provider,jeto_fake\n1,,box-version,0",
        ));
        mark_outdated(
            &mut boxes,
            &records(
                "1,,ui,info,* 'team/base' for 'jeto_fake' is outdated! Current: 1.0.0. Latest: 1.1.0\n\
                 1,,ui,output,* 'local/plain' for 'jeto_fake' wasn't added from a catalog%!(VAGRANT_COMMA) no version information",
            ),
        );
        assert_eq!(boxes[0].outdated, Some(true));
        assert_eq!(boxes[0].latest_version.as_deref(), Some("1.1.0"));
        assert_eq!(
            (boxes[1].name.as_str(), boxes[1].outdated),
            ("local/plain", None)
        );
    }

    #[test]
    fn global_status_and_plugins() {
        // As Vagrant 2.3.4 prints it: no target on the records, the name in the table.
        let machines = global_machines(&records(
            "1,,metadata,machine-count,1\n1,,machine-id,abc1234\n1,,provider-name,docker\n\
             1,,machine-home,/srv/web\n1,,state,running\n1,,ui,info,id       \n1,,ui,info,name\n\
             1,,ui,info,\n1,,ui,info,--------------\n1,,ui,info,abc1234  \n1,,ui,info,web    \n\
             1,,ui,info,docker \n1,,ui,info,running \n1,,ui,info,/srv/web   \n1,,ui,info,\n\
             1,,ui,info, \\nThe above shows information",
        ));
        assert_eq!(machines.len(), 1);
        assert_eq!(
            (
                machines[0].name.as_str(),
                machines[0].state.as_str(),
                machines[0].directory.as_str()
            ),
            ("web", "running", "/srv/web")
        );
        let plugins = plugin_list(&records(
            "1,,plugin-name,vagrant-libvirt\n1,vagrant-libvirt,plugin-version,0.11.2%!(VAGRANT_COMMA) system",
        ));
        assert_eq!(plugins[0].version, "0.11.2, system");
    }
}
