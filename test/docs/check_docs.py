#!/usr/bin/env python3
"""The documentation against what it documents.

  check_docs.py SOURCE_DIR reference      docs/reference.md is what hack/gen-crd-reference.py
                                          writes from deploy/crd/ (it is not stale)
  check_docs.py SOURCE_DIR descriptions   every property of every CRD has a description, so
                                          `kubectl explain` answers for each field
  check_docs.py SOURCE_DIR links          every relative link of README.md and docs/*.md names a
                                          file that exists, and an #anchor a heading of it
  check_docs.py SOURCE_DIR k8s-versions   the Helm chart's kubeVersion starts at the oldest
                                          Kubernetes minor of hack/k8s-versions (what the version
                                          matrix runs), and the README's support table lists each
"""
import difflib
import pathlib
import re
import subprocess
import sys
import unittest
import urllib.parse

import yaml

ROOT = pathlib.Path(sys.argv[1]).resolve()
GROUP = sys.argv[2]
GENERATOR = ROOT / "hack/gen-crd-reference.py"
REFERENCE = ROOT / "docs/reference.md"


def crd_files():
    kustomization = yaml.safe_load((ROOT / "deploy/crd/kustomization.yaml").read_text())
    return [ROOT / "deploy/crd" / name for name in kustomization["resources"]]


def undescribed(schema, path):
    """Field paths under `schema` whose description is missing or blank."""
    out = []
    for name, sub in schema.get("properties", {}).items():
        field = name if not path else path + "." + name
        # The API server refuses anything but the type on the root's metadata (it is ObjectMeta,
        # which kubectl explain describes from the built-in schema).
        if field == "metadata":
            continue
        if not str(sub.get("description", "")).strip():
            out.append(field)
        out += undescribed(sub, field)
        items = sub.get("items")
        if isinstance(items, dict):
            out += undescribed(items, field + "[]")
    return out


def markdown_files():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def without_code(text):
    """The text with fenced code blocks and code spans blanked (links in them are not links),
    its lines where they were."""
    text = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text,
                  flags=re.M | re.S)
    return re.sub(r"`(?:[^`\n]|\n(?!\n))*`", lambda m: "\n" * m.group(0).count("\n"), text)


def anchors(path):
    """GitHub's anchors of the headings of a Markdown file (-1, -2... for repeated ones)."""
    seen = {}
    out = set()
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", text, re.M):
        slug = heading.strip().lower().replace("`", "")
        slug = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", slug)
        slug = re.sub(r"[^\w\- ]", "", slug).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else "%s-%d" % (slug, n))
    return out


def links(path):
    """(line, target) of every inline Markdown link of a file, outside code."""
    text = without_code(path.read_text())
    out = []
    for m in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


class ReferenceIsFresh(unittest.TestCase):
    def test_the_reference_is_what_the_generator_writes_from_the_crds(self):
        r = subprocess.run([sys.executable, str(GENERATOR), "--stdout"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        committed = REFERENCE.read_text() if REFERENCE.exists() else ""
        if r.stdout != committed:
            diff = "".join(difflib.unified_diff(committed.splitlines(True),
                                                r.stdout.splitlines(True),
                                                "docs/reference.md (committed)",
                                                "hack/gen-crd-reference.py --stdout", n=1))
            self.fail("docs/reference.md is stale: run hack/gen-crd-reference.py and commit "
                      "docs/reference.md\n" + diff[:6000])



class EveryFieldIsDescribed(unittest.TestCase):
    def test_every_crd_field_has_a_description(self):
        self.assertEqual(len(crd_files()), 4)
        missing = []
        for path in crd_files():
            crd = yaml.safe_load(path.read_text())
            for version in crd["spec"]["versions"]:
                for field in undescribed(version["schema"]["openAPIV3Schema"], ""):
                    missing.append("%s %s: %s" % (crd["spec"]["names"]["kind"], version["name"],
                                                  field))
        self.assertEqual(missing, [], "fields without a description (kubectl explain shows "
                         "nothing for them):\n  " + "\n  ".join(missing))



class LinksResolve(unittest.TestCase):
    def test_every_relative_link_resolves(self):
        broken = []
        for source in markdown_files():
            for line, target in links(source):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # https:, mailto: ...
                file_part, _, anchor = target.partition("#")
                dest = (source.parent / urllib.parse.unquote(file_part)).resolve() \
                    if file_part else source
                where = "%s:%d: %s" % (source.relative_to(ROOT), line, target)
                if not dest.exists():
                    broken.append(where + " (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(where + " (no such heading in %s)" % dest.relative_to(ROOT))
                elif anchor and dest.suffix != ".md":
                    broken.append(where + " (an anchor into a file that is not Markdown)")
        self.assertEqual(broken, [], "broken links:\n  " + "\n  ".join(broken))

    def test_the_link_checker_sees_links_and_anchors(self):
        # A checker that finds nothing passes everything: it must see the README's links to
        # docs/ and the headings they point at.
        targets = [t for _, t in links(ROOT / "README.md")]
        self.assertIn("docs/install.md", targets)
        self.assertIn("install-with-helm", anchors(ROOT / "docs/install.md"))
        self.assertIn("zero-downtime-rotation-strategy-alternating-postgresuser",
                      anchors(ROOT / "docs/rotation.md"))


class KubernetesVersionsAgree(unittest.TestCase):
    def pinned_minors(self):
        minors = []
        for line in (ROOT / "hack/k8s-versions").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and re.match(r"^1\.[0-9]+$", fields[0]):
                minors.append(fields[0])
        self.assertGreaterEqual(len(minors), 2)
        return sorted(minors, key=lambda m: int(m.split(".")[1]))

    def test_the_charts_kube_version_starts_at_the_oldest_tested_minor(self):
        chart = yaml.safe_load((ROOT / "deploy/chart/Chart.yaml").read_text())
        self.assertEqual(chart["kubeVersion"], ">=%s.0-0" % self.pinned_minors()[0])

    def test_the_readme_support_table_lists_each_pinned_minor(self):
        rows = [line.split("|")[1].strip()
                for line in (ROOT / "README.md").read_text().splitlines()
                if re.match(r"^\| 1\.[0-9]+ \|", line)]
        self.assertEqual(rows, self.pinned_minors())


GROUPS = {"reference": ReferenceIsFresh, "descriptions": EveryFieldIsDescribed,
          "links": LinksResolve, "k8s-versions": KubernetesVersionsAgree}

if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(GROUPS[GROUP]))
    sys.exit(0 if result.wasSuccessful() else 1)
