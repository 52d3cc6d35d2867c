"""Cloud mode: command start to `scheduleRun` received at the emulator. Prints medians and ratios;
asserts nothing.

The emulator is started once. Each sample launches a process (or calls the API in this process) and
measures the wall time from just before the launch to the run's `createTime`, which the emulator
stamps when it receives `scheduleRun` (same machine, same clock). Measured in turns, so that load
from other work falls on all of them alike; each sample's run is left to finish before the next one
starts, so earlier builds do not slow later requests:

  acrmagic build --no-logs    `.venv/bin/acrmagic build` with ACRMAGIC_TARGET=emulator:<config>, as a
                              user runs it (credential, registry lookup, pack, upload, scheduleRun)
  raw SDK script (baseline)   a new Python process doing the least a hand-written script does with the
                              same SDKs: ManagedIdentityCredential, registries.get, upload URL, BlockBlob
                              upload, scheduleRun, with subscription and resource group known
  SDK imports only            a new Python process that only imports those SDKs (the floor of any
                              process that uses them)
  acrmagic.build in process   the API called again in a warm process (credential and clients made)

Run with ./dev bench (the local stack must be up: the emulator's runs build on the local engine).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

from acrmagic.emulator.process import EmulatorProcess

N = 10
ROOT = Path(__file__).resolve().parents[1]
ACRMAGIC = Path(sys.executable).with_name("acrmagic")
TASKS_API = "2025-03-01-preview"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}

RAW_SDK = r'''
import io, json, sys, tarfile
from azure.identity import ManagedIdentityCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient
from azure.mgmt.containerregistrytasks.models import DockerBuildRequest, PlatformProperties
from azure.storage.blob import BlobClient

info, ctx = json.load(open(sys.argv[1])), sys.argv[2]
sub, rg, reg = info["subscription_id"], info["resource_group"], info["registry"]
kw = dict(base_url=info["management_url"], credential_scopes=["https://management.azure.com/.default"],
          connection_verify=info["ca_bundle"])
cred = ManagedIdentityCredential()
ContainerRegistryManagementClient(cred, sub, **kw).registries.get(rg, reg)
tasks = ContainerRegistryTasksMgmtClient(cred, sub, **kw)
up = tasks.registries.get_build_source_upload_url(rg, reg)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    tar.add(ctx, arcname=".")
BlobClient.from_blob_url(up.upload_url, connection_verify=info["ca_bundle"]).upload_blob(
    buf.getvalue(), blob_type="BlockBlob", overwrite=True)
run = tasks.registries.schedule_run(rg, reg, DockerBuildRequest(
    source_location=up.relative_path, docker_file_path="Dockerfile", is_push_enabled=False,
    platform=PlatformProperties(os="linux", architecture="amd64")))
print(run.run_id)
'''

IMPORTS_ONLY = ("import azure.identity, azure.mgmt.containerregistry, azure.mgmt.containerregistrytasks, "
                "azure.storage.blob")


class Emulator(EmulatorProcess):
    def __init__(self, tmp: Path):
        super().__init__(tmp, ["--state-dir", str(tmp / "state")],
                         env={**os.environ, "ACRMAGIC_HOME": str(tmp / "emulator-home")})
        self.config = self.config_file
        i = self.info
        self.runs_url = (f"{i['management_url']}/subscriptions/{i['subscription_id']}/resourceGroups/"
                         f"{i['resource_group']}/providers/Microsoft.ContainerRegistry/registries/{i['registry']}/runs")
        token = requests.get(i["identity_endpoint"], headers={"X-IDENTITY-HEADER": i["identity_header"]},
                             params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                             timeout=10).json()["access_token"]
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.verify = i["ca_bundle"]
        self.http.trust_env = False  # a REQUESTS_CA_BUNDLE of the machine's would replace the emulator's CA

    def run(self, run_id: str) -> dict:
        resp = self.http.get(f"{self.runs_url}/{run_id}", params={"api-version": TASKS_API}, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def newest_run_id(self) -> str | None:
        resp = self.http.get(self.runs_url, params={"api-version": TASKS_API, "$top": "1"}, timeout=10)
        resp.raise_for_status()
        value = resp.json()["value"]
        return value[0]["properties"]["runId"] if value else None

    def scheduled_at(self, run_id: str) -> float:
        """When the emulator received the run's scheduleRun (its createTime), as time.time() reads it."""
        return datetime.fromisoformat(self.run(run_id)["properties"]["createTime"].replace("Z", "+00:00")).timestamp()

    def finish(self, run_id: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.run(run_id)["properties"]["status"]
            if status in TERMINAL:
                return status
            time.sleep(0.1)
        raise SystemExit(f"run {run_id} did not finish in {timeout} s")



def main() -> None:
    with tempfile.TemporaryDirectory(prefix="acrmagic-bench-cloud-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = tmp / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN true\n")
        (ctx / "app.txt").write_text("hello\n")
        script = tmp / "raw_sdk.py"
        script.write_text(RAW_SDK)
        emu = Emulator(tmp)
        try:
            user_env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "ACRMAGIC_"))}
            cli_env = {**user_env, "ACRMAGIC_TARGET": f"emulator:{emu.config}", "ACRMAGIC_HOME": str(tmp / "home"),
                       "ACRMAGIC_PROGRESS": "none"}
            sdk_env = {**user_env, "IDENTITY_ENDPOINT": emu.info["identity_endpoint"],
                       "IDENTITY_HEADER": emu.info["identity_header"]}

            def after_launch(run_id: str, t0: float) -> float:
                took = emu.scheduled_at(run_id) - t0
                emu.finish(run_id)
                return took

            def cli() -> float:
                before = emu.newest_run_id()
                t0 = time.time()
                subprocess.run([str(ACRMAGIC), "build", "--no-logs", "--no-push", str(ctx)], env=cli_env, check=True,
                               stdout=subprocess.DEVNULL, cwd=tmp)
                run_id = emu.newest_run_id()
                assert run_id != before, "acrmagic build scheduled no run"
                return after_launch(run_id, t0)

            def raw_sdk() -> float:
                t0 = time.time()
                out = subprocess.run([sys.executable, str(script), str(emu.config), str(ctx)], env=sdk_env, check=True,
                                     capture_output=True, text=True, cwd=tmp).stdout
                return after_launch(out.split()[-1], t0)

            def imports_only() -> float:
                t0 = time.time()
                subprocess.run([sys.executable, "-c", IMPORTS_ONLY], env=user_env, check=True, cwd=tmp)
                return time.time() - t0

            os.environ.update({"ACRMAGIC_TARGET": cli_env["ACRMAGIC_TARGET"], "ACRMAGIC_HOME": cli_env["ACRMAGIC_HOME"],
                               "ACRMAGIC_PROGRESS": "none"})
            import acrmagic

            def in_process() -> float:
                t0 = time.time()
                run = acrmagic.build(context=str(ctx), push=False, logs=False)
                return after_launch(run.run_id, t0)

            fns = [raw_sdk, cli, imports_only, in_process]
            for fn in fns:  # warm-up: page cache, byte-code, the local engine's build cache
                fn()
            samples: list[list[float]] = [[] for _ in fns]
            for _ in range(N):
                for fn, out in zip(fns, samples):
                    out.append(fn())
            raw_s, cli_s, imp_s, api_s = (statistics.median(s) for s in samples)
        finally:
            emu.stop()
    print(f"cloud mode, command start to scheduleRun received at the emulator, median of {N}:")
    print(f"  raw SDK script (new process)    {raw_s * 1000:7.1f} ms  (baseline)")
    print(f"  acrmagic build --no-logs        {cli_s * 1000:7.1f} ms  ratio {cli_s / raw_s:.2f}x")
    print(f"  SDK imports only (new process)  {imp_s * 1000:7.1f} ms  ratio {imp_s / raw_s:.2f}x  (the floor)")
    print(f"  acrmagic.build (warm, in proc)  {api_s * 1000:7.1f} ms  ratio {api_s / raw_s:.2f}x")


if __name__ == "__main__":
    main()
