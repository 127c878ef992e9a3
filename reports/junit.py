"""``junit.xml``: the run's checks as JUnit test cases, for CI systems that read that format.

One ``testsuite`` per class of check (run limits, each gated metric, and samples when asked for);
a failed check is a ``<failure>`` with its message. Built with ``xml.etree`` so any text is escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.render import Check, ReportData


def sample_checks(data: ReportData) -> list[Check]:
    """One case per row of the per-sample view (the same cap applies): a failure fails the case."""
    from reports.render import Check

    checks = []
    for r in data.samples.rows:
        name = f"{r.cell_id}/{r.sample_id}/{r.replicate}" + (f"#{r.result_index}" if r.result_index else "")
        message = r.error or r.explanation or ""
        checks.append(
            Check(name=name, classname="samples", passed=not r.failed, message=message, value=r.value)
        )
    return checks


def render_junit(data: ReportData, *, samples: bool = False) -> bytes:
    """The XML document (UTF-8 bytes)."""
    checks = list(data.checks) + (sample_checks(data) if samples else [])
    suite_name = str(data.run.manifest.get("suite_name", "run"))
    root = ET.Element("testsuites", name=suite_name)
    total = failures = skipped = 0
    for classname, group in groupby(sorted(checks, key=lambda c: c.classname), key=lambda c: c.classname):
        cases = list(group)
        n_fail = sum(1 for c in cases if not c.passed and not c.skipped)
        n_skip = sum(1 for c in cases if c.skipped)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{suite_name}.{classname}",
            tests=str(len(cases)),
            failures=str(n_fail),
            errors="0",
            skipped=str(n_skip),
        )
        for c in cases:
            case = ET.SubElement(
                suite, "testcase", name=c.name, classname=f"{suite_name}.{c.classname}", time="0"
            )
            if c.skipped:
                ET.SubElement(case, "skipped", message=c.message)
            elif not c.passed:
                failure = ET.SubElement(case, "failure", message=c.message, type="check")
                failure.text = c.message
            elif c.message:
                ET.SubElement(case, "system-out").text = c.message
        total += len(cases)
        failures += n_fail
        skipped += n_skip
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
