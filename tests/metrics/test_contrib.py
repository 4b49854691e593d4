"""
contrib/: the Prometheus rules pass promtool (syntax and their unit tests), and
the rules and the Grafana dashboard ask only for metrics the collector exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from migratekit.metrics import PrometheusCollector
from tests._redis import require
from tests.metrics.scenario import drop_info, run_scenario

pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "rules.yml"
RULES_TEST = CONTRIB / "prometheus" / "rules_test.yml"
DASHBOARD = CONTRIB / "grafana" / "migratekit.json"
NAME = re.compile(r"\bmigratekit_[a-z_]+\b")
GRAFANA = {"$__rate_interval": "5m", "$__interval": "1m", "$migration": ".*"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        require("promtool", "promtool is not installed (Debian package 'prometheus')")
    assert found is not None
    return found


def exported() -> set[str]:
    """The sample names a real collector exports, after calls of every outcome."""
    drop_info()
    registry = CollectorRegistry()
    collector = PrometheusCollector.register(registry)
    try:
        run_scenario()
        text = generate_latest(registry).decode()
    finally:
        collector.close()
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def rules() -> list[dict[str, str]]:
    """
    The rules of rules.yml, as {"record" or "alert": name, "expr": text}: read
    by hand (its layout is ours: `- record:`/`- alert:`, then `expr: >-` and
    the expression's lines, indented further); promtool checks the YAML itself.
    """
    found: list[dict[str, str]] = []
    lines = RULES.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"\s*- (record|alert): (\S+)$", line)
        if match:
            found.append({match.group(1): match.group(2)})
        elif line.strip() == "expr: >-":
            indent = len(line) - len(line.lstrip())
            body = []
            for more in lines[number + 1:]:
                if len(more) - len(more.lstrip()) <= indent:
                    break
                body.append(more.strip())
            found[-1]["expr"] = " ".join(body)
    return found


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"]
              if variable["type"] == "query"]
    return exprs


def test_promtool_checks_the_rules() -> None:
    answer = subprocess.run([promtool(), "check", "rules", str(RULES)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_promtool_runs_the_rules_unit_tests() -> None:
    """The alert fires on inconsistencies in LIVE and not in SHADOW; the ratios are right."""
    answer = subprocess.run([promtool(), "test", "rules", str(RULES_TEST)], cwd=RULES.parent,
                            capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_the_rules_record_and_alert_what_the_issue_asks() -> None:
    found = rules()
    recorded = {rule["record"] for rule in found if "record" in rule}
    assert "migration_stage:migratekit_inconsistent:rate5m" in recorded
    assert "migration_stage:migratekit_results_failed:ratio_rate5m" in recorded
    alert = next(rule for rule in found if rule.get("alert"))
    assert 'stage=~"live|rampdown|complete"' in alert["expr"]
    assert "[5m]" in alert["expr"]
    assert alert["expr"].rstrip().endswith("> 0")


def test_the_dashboard_loads_and_shows_what_the_issue_asks() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "migratekit"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(dashboard_exprs())
    assert "migratekit_inconsistent_total" in exprs
    assert 'ok="false"' in exprs
    assert "histogram_quantile(0.99" in exprs
    assert "origin, le" in exprs
    assert all("stage" in panel["targets"][0]["expr"] for panel in dashboard["panels"])


def test_every_expression_asks_only_for_exported_metrics() -> None:
    names = exported()
    exprs = dashboard_exprs() + [rule["expr"] for rule in rules()]
    for expr in exprs:
        used = set(NAME.findall(expr))
        assert used, expr
        assert used <= names, (expr, used - names)


def test_promtool_parses_the_dashboard_queries(tmp_path: Path) -> None:
    """Each dashboard query, with Grafana's variables filled in, is valid PromQL."""
    tool = promtool()
    recorded = []
    for number, query in enumerate(dashboard_exprs()):
        if query.startswith("label_values("):
            continue  # Grafana's own function, not PromQL
        expr = query
        for variable, value in GRAFANA.items():
            expr = expr.replace(variable, value)
        recorded.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"  # JSON is YAML: promtool reads it
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": recorded}]}),
                    encoding="utf-8")
    answer = subprocess.run([tool, "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
