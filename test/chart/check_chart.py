#!/usr/bin/env python3
"""The Helm chart deploy/chart/ with the pinned Helm (hack/build-helm.sh).

  check_chart.py SOURCE_DIR HELM render   helm lint; defaults render deploy/default's objects;
                                          values that must be refused are
  check_chart.py SOURCE_DIR HELM server   every `helm install` of docs/install.md renders, lints and
                                          passes `kubectl apply --dry-run=server` against the
                                          dev environment's kube-apiserver
"""
import copy
import os
import pathlib
import re
import shlex
import subprocess
import sys
import unittest

import yaml

ROOT = pathlib.Path(sys.argv[1]).resolve()
HELM = sys.argv[2]
GROUP = sys.argv[3]
CHART = ROOT / "deploy/chart"


def run(argv, stdin=None, env=None):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)


def helm_template(release, namespace, args=()):
    r = run([HELM, "template", release, str(CHART), "--namespace", namespace, "--include-crds",
             *args])
    if r.returncode != 0:
        raise AssertionError("helm template %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


def key(obj):
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def without_labels(obj):
    o = copy.deepcopy(obj)
    o["metadata"].pop("labels", None)
    tmpl = o.get("spec", {}).get("template", {})
    if isinstance(tmpl, dict) and "metadata" in tmpl:
        tmpl["metadata"].pop("labels", None)
        if not tmpl["metadata"]:
            tmpl.pop("metadata")
    return o


def readme_installs():
    """The `helm install` commands of the Helm section of docs/install.md, as argument lists."""
    text = (ROOT / "docs/install.md").read_text()
    section = re.search(r"^## Install with Helm\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not section:
        raise AssertionError("docs/install.md has no '## Install with Helm' section")
    body = section.group(1).replace("\\\n", " ")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("helm install ") or line.startswith("helm upgrade --install "):
                commands.append(shlex.split(line))
    return commands


def template_args(cmd):
    """release, namespace and the value arguments of a docs/install.md command."""
    words = cmd[2:] if cmd[1] == "install" else cmd[3:]
    release, chart, rest = words[0], words[1], words[2:]
    if chart != "deploy/chart":
        raise AssertionError("docs/install.md installs %s, not deploy/chart" % chart)
    namespace, args, i = "default", [], 0
    while i < len(rest):
        w = rest[i]
        if w in ("-n", "--namespace"):
            namespace = rest[i + 1]
            i += 2
        elif w in ("--set", "--set-string", "--set-json", "-f", "--values"):
            value = rest[i + 1]
            if w in ("-f", "--values"):
                value = str(ROOT / value)
            args += [w, value]
            i += 2
        elif w in ("--create-namespace", "--wait", "--atomic"):
            i += 1
        else:
            raise AssertionError("unexpected argument %r in %s" % (w, " ".join(cmd)))
    return release, namespace, args


class ChartRenders(unittest.TestCase):
    def test_helm_lint_passes_with_defaults_and_every_readme_combination(self):
        r = run([HELM, "lint", "--strict", str(CHART)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for cmd in readme_installs():
            _, namespace, args = template_args(cmd)
            with self.subTest(cmd=" ".join(cmd)):
                r = run([HELM, "lint", "--strict", str(CHART), "--namespace", namespace, *args])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_defaults_render_the_objects_of_deploy_default_labels_aside(self):
        # The chart's crds/ are deploy/crd; kustomize installs them on their own.
        k = run(["kubectl", "kustomize", str(ROOT / "deploy/default")])
        self.assertEqual(k.returncode, 0, k.stderr)
        c = run(["kubectl", "kustomize", str(ROOT / "deploy/crd")])
        self.assertEqual(c.returncode, 0, c.stderr)
        kustomized = {key(o): without_labels(o) for o in objects(k.stdout + "\n---\n" + c.stdout)}
        # Defaults: everything but the Namespace (a Helm install needs it to exist first).
        helm = {key(o): without_labels(o)
                for o in objects(helm_template("dbuser-operator", "dbuser-system"))}
        expected = {k_: v for k_, v in kustomized.items() if k_[0] != "Namespace"}
        self.assertEqual(sorted(helm), sorted(expected))
        for k_ in expected:
            with self.subTest(object=k_):
                self.assertEqual(helm[k_], expected[k_])
        # With namespace.create, the Namespace too, and its Pod Security label.
        with_ns = objects(helm_template("dbuser-operator", "dbuser-system",
                                        ["--set", "namespace.create=true"]))
        self.assertEqual(sorted(key(o) for o in with_ns), sorted(kustomized))
        ns = next(o for o in with_ns if o["kind"] == "Namespace")
        self.assertEqual(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
                         "restricted")

    def test_objects_carry_the_recommended_labels(self):
        for o in objects(helm_template("dbuser-operator", "dbuser-system")):
            if o["kind"] == "CustomResourceDefinition":
                continue  # crds/ is not templated
            with self.subTest(object=key(o)):
                labels = o["metadata"].get("labels", {})
                self.assertEqual(labels.get("app.kubernetes.io/instance"), "dbuser-operator")
                self.assertEqual(labels.get("app.kubernetes.io/managed-by"), "Helm")

    def test_values_reach_the_deployment(self):
        out = objects(helm_template("ops", "ops", [
            "--set", "rbac.scope=namespace", "--set", "replicas=1",
            "--set", "leaderElection.enabled=false", "--set", "logFormat=text",
            "--set", "dbPoolSize=8", "--set", "resyncPeriod=10m", "--set", "logLevel=debug",
            "--set", "extraArgs={--kube-qps=100}", "--set", "image.tag=1.2.3",
            "--set", "resources.limits.memory=512Mi"]))
        kinds = sorted(o["kind"] for o in out if o["kind"] != "CustomResourceDefinition")
        self.assertEqual(kinds, ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role",
                                 "RoleBinding", "ServiceAccount"])
        dep = next(o for o in out if o["kind"] == "Deployment")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(dep["spec"]["replicas"], 1)
        self.assertEqual(c["image"], "dbuser-operator:1.2.3")
        self.assertEqual(c["args"], ["--listen=:8080", "--log-format=text", "--log-level=debug",
                                     "--db-pool-size=8", "--resync-period=10m",
                                     "--namespace=ops", "--kube-qps=100"])
        self.assertEqual(c["resources"]["limits"]["memory"], "512Mi")
        role = next(o for o in out if o["kind"] == "Role")
        self.assertEqual(role["metadata"]["namespace"], "ops")
        rules = yaml.safe_load((ROOT / "deploy/rbac/cluster_role.yaml").read_text())["rules"]
        self.assertEqual(role["rules"], rules)
        # Cluster-wide, only reading the target policies and the one namespace watched.
        reader = next(o for o in out if o["kind"] == "ClusterRole")
        self.assertEqual(sorted({v for r in reader["rules"] for v in r["verbs"]}),
                         ["get", "list", "watch"])
        ns_rule = next(r for r in reader["rules"] if r["resources"] == ["namespaces"])
        self.assertEqual(ns_rule["resourceNames"], ["ops"])

    def test_deny_by_default_policy_renders_only_when_asked(self):
        base = objects(helm_template("dbuser-operator", "dbuser-system"))
        self.assertFalse([o for o in base if o["kind"] == "DatabaseTargetPolicy"])
        out = objects(helm_template("dbuser-operator", "dbuser-system", [
            "--set", "targetPolicy.denyByDefault=true"]))
        policies = [o for o in out if o["kind"] == "DatabaseTargetPolicy"]
        self.assertEqual(len(policies), 1)
        self.assertEqual(policies[0]["spec"], {"rules": []})
        self.assertNotIn("namespace", policies[0]["metadata"])  # cluster-scoped

    def test_monitoring_objects_appear_only_when_asked_and_carry_the_rules(self):
        base = objects(helm_template("dbuser-operator", "dbuser-system"))
        self.assertFalse([o for o in base if o["kind"] in ("Service", "ServiceMonitor",
                                                           "PrometheusRule", "ConfigMap")])
        out = objects(helm_template("dbuser-operator", "dbuser-system", [
            "--set", "monitoring.serviceMonitor.enabled=true",
            "--set", "monitoring.serviceMonitor.labels.release=prometheus",
            "--set", "monitoring.prometheusRule.enabled=true",
            "--set", "monitoring.dashboard.enabled=true"]))
        by_kind = {o["kind"]: o for o in out}
        for kind in ("Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"):
            self.assertIn(kind, by_kind)
        rules = yaml.safe_load((ROOT / "deploy/monitoring/alerts.rules.yaml").read_text())
        self.assertEqual(by_kind["PrometheusRule"]["spec"], rules)
        sm, svc = by_kind["ServiceMonitor"], by_kind["Service"]
        self.assertEqual(sm["metadata"]["labels"]["release"], "prometheus")
        for k_, v in sm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(svc["metadata"]["labels"].get(k_), v)
        self.assertEqual(svc["metadata"]["labels"][sm["spec"]["jobLabel"]], "dbuser-operator")
        dep = by_kind["Deployment"]
        for k_, v in svc["spec"]["selector"].items():
            self.assertEqual(dep["spec"]["template"]["metadata"]["labels"].get(k_), v)
        dash = by_kind["ConfigMap"]["data"]["dbuser-operator.json"]
        self.assertEqual(yaml.safe_load(dash),
                         yaml.safe_load((ROOT / "deploy/monitoring/grafana-dashboard.json").read_text()))

    def test_inconsistent_values_are_refused(self):
        for args, why in ((["--set", "leaderElection.enabled=false"], "needs leaderElection"),
                          (["--set", "rbac.scope=everything"], "rbac.scope must be")):
            with self.subTest(args=args):
                r = run([HELM, "template", "x", str(CHART), *args])
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(why, r.stderr)


def dev_env():
    d = pathlib.Path(os.environ.get("DBUSER_DEV_DIR", ROOT / ".dev"))
    env = dict(os.environ)
    for line in (d / "env").read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


class ReadmeInstallsOnTheServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = dev_env()
        # The prometheus-operator's CRDs cannot be fetched here: permissive stand-ins for its two
        # kinds let the server take the monitoring objects (their content is checked by
        # test/monitoring and the render tests above).
        r = run(["kubectl", "apply", "-f", str(ROOT / "test/chart/monitoring-crds-stand-in.yaml")],
                env=cls.env)
        assert r.returncode == 0, r.stderr
        for crd in ("servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
            r = run(["kubectl", "wait", "--for=condition=Established", "--timeout=60s", "crd/" + crd],
                    env=cls.env)
            assert r.returncode == 0, r.stderr

    def test_every_readme_install_passes_a_server_side_dry_run(self):
        commands = readme_installs()
        self.assertGreaterEqual(len(commands), 3)
        for cmd in commands:
            release, namespace, args = template_args(cmd)
            with self.subTest(cmd=" ".join(cmd)):
                # The namespace exists before an install (--create-namespace or by hand).
                ns = run(["kubectl", "create", "namespace", namespace, "--dry-run=client",
                          "-o", "yaml"], env=self.env).stdout
                r = run(["kubectl", "apply", "-f", "-"], stdin=ns, env=self.env)
                self.assertEqual(r.returncode, 0, r.stderr)
                rendered = helm_template(release, namespace, args)
                r = run(["kubectl", "apply", "--dry-run=server", "-f", "-"], stdin=rendered,
                        env=self.env)
                self.assertEqual(r.returncode, 0, r.stderr)
                n = len(objects(rendered))
                self.assertEqual(r.stdout.count("(server dry run)"), n, r.stdout)


if __name__ == "__main__":
    suite = ChartRenders if GROUP == "render" else ReadmeInstallsOnTheServer
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(suite))
    sys.exit(0 if result.wasSuccessful() else 1)
