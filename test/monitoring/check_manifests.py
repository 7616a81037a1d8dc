#!/usr/bin/env python3
"""deploy/monitoring/ as a whole: the PrometheusRule is what hack/gen-prometheusrule.py makes of
alerts.rules.yaml and promtool accepts it; the alerts the project promises exist, each with a
summary, a description that says where to look and a runbook section that exists; the metrics
Service selects the operator's pods and targets their http port; the ServiceMonitor selects the
Service and names the job the alerts select.

  check_manifests.py <source-dir> <promtool>
"""
import pathlib
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else pathlib.Path(".").resolve()
PROMTOOL = sys.argv[2] if len(sys.argv) > 2 else "promtool"
MON = ROOT / "deploy/monitoring"

# The alerts of issue 19, by what they watch.
PROMISED_ALERTS = {
    "DBUserOperatorDown",            # operator down
    "DBUserOperatorNoLeader",        # no leader for 5m
    "DBUserShardWithoutHolder",      # a shard without a holder for 2 Lease durations (--shards)
    "DBUserReconcileErrorsHigh",     # reconcile error ratio
    "DBUserUsersNotReady",           # users not Ready for 15m, by namespace
    "DBUserSupervisorsStuckInBackoff",
    "DBUserPoolSaturated",           # waiting > 0 for 10m
    "DBUserDatabaseTargetDown",      # issue 21: a target down for 5m
    "DBUserRotationOverdue",
    "DBUserWatchRestartStorm",
}


def load(path):
    return yaml.safe_load(path.read_text())


def alerts(groups):
    return [r for g in groups for r in g["rules"] if "alert" in r]


def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


class MonitoringManifests(unittest.TestCase):
    def test_the_prometheusrule_is_generated_from_the_rule_file(self):
        out = subprocess.run([sys.executable, str(ROOT / "hack/gen-prometheusrule.py"), "--stdout"],
                             check=True, capture_output=True, text=True).stdout
        self.assertEqual(yaml.safe_load(out), load(MON / "prometheusrule.yaml"),
                         "prometheusrule.yaml is stale: run hack/gen-prometheusrule.py")
        rule = load(MON / "prometheusrule.yaml")
        self.assertEqual(rule["spec"]["groups"], load(MON / "alerts.rules.yaml")["groups"])

    def test_promtool_accepts_the_prometheusrule_groups(self):
        spec = load(MON / "prometheusrule.yaml")["spec"]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(spec, f)
            f.flush()
            r = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(spec["groups"][0]["rules"]), r.stdout)

    def test_every_promised_alert_exists_once(self):
        names = [a["alert"] for a in alerts(load(MON / "alerts.rules.yaml")["groups"])]
        self.assertEqual(sorted(names), sorted(set(names)), "duplicate alert names")
        self.assertEqual(set(names), PROMISED_ALERTS)

    def test_every_alert_says_what_where_and_has_a_runbook_section(self):
        runbooks = (ROOT / "docs/runbooks.md").read_text()
        anchors = {github_anchor(h) for h in re.findall(r"^## (.+)$", runbooks, re.M)}
        tests = (ROOT / "test/monitoring/alerts_test.yaml").read_text()
        for a in alerts(load(MON / "alerts.rules.yaml")["groups"]):
            with self.subTest(alert=a["alert"]):
                ann = a.get("annotations", {})
                self.assertTrue(ann.get("summary"))
                self.assertTrue(ann.get("description"))
                self.assertRegex(ann["description"], r"kubectl|/debug/actors",
                                 "the description names a place to look")
                self.assertIn(a["labels"].get("severity"), {"critical", "warning"})
                self.assertTrue(a.get("for"), "every alert waits before it fires")
                page, _, anchor = ann.get("runbook", "").partition("#")
                self.assertEqual(page, "docs/runbooks.md")
                self.assertEqual(anchor, a["alert"].lower())
                self.assertIn(anchor, anchors)
                # The unit tests both fire it and keep it silent.
                fired = re.search(r"alertname: %s\n\s+exp_alerts:\n\s+- exp_labels" % a["alert"],
                                  tests)
                silent = re.search(r"alertname: %s, exp_alerts: \[\]" % a["alert"], tests)
                self.assertTrue(fired, "no promtool test fires " + a["alert"])
                self.assertTrue(silent, "no promtool test keeps %s silent" % a["alert"])

    def test_the_service_and_servicemonitor_reach_the_operator_pods(self):
        deployment = load(ROOT / "deploy/manager/deployment.yaml")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"]: p["containerPort"]
                 for c in deployment["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        svc = load(MON / "service.yaml")
        self.assertEqual(svc["metadata"]["namespace"], deployment["metadata"]["namespace"])
        for k, v in svc["spec"]["selector"].items():
            self.assertEqual(pod_labels.get(k), v)
        svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
        for p in svc_ports.values():
            self.assertIn(p["targetPort"], ports)
        sm = load(MON / "servicemonitor.yaml")
        for k, v in sm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(svc["metadata"]["labels"].get(k), v)
        self.assertIn(svc["metadata"]["namespace"], sm["spec"]["namespaceSelector"]["matchNames"])
        for e in sm["spec"]["endpoints"]:
            self.assertIn(e["port"], svc_ports)
            self.assertEqual(e["path"], "/metrics")
        # The job label the alerts select on is the Service's jobLabel value.
        self.assertEqual(svc["metadata"]["labels"][sm["spec"]["jobLabel"]], "dbuser-operator")
        for a in alerts(load(MON / "alerts.rules.yaml")["groups"]):
            self.assertIn('job="dbuser-operator"', a["expr"], a["alert"])

    def test_kustomize_renders_the_three_objects(self):
        r = subprocess.run(["kubectl", "kustomize", str(MON)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        kinds = sorted(d["kind"] for d in yaml.safe_load_all(r.stdout) if d)
        self.assertEqual(kinds, ["PrometheusRule", "Service", "ServiceMonitor"])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
