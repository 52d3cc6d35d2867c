"""A run ACR accepted: follow its log blob into events, stop it, read its outcome from ARM."""

from __future__ import annotations

import threading
import time

from ... import acrspec
from ...errors import AcrMagicError, CloudError
from ...events import Emit, LogEvent, StepRecord
from ...logformat import LogReader
from ...states import CANCELED, ERROR, FAILED, SUCCEEDED, TERMINAL, TIMEOUT
from ..base import Outcome, RunHandle, stop_outcome
from . import records, sdk
from .logblob import Followed, LogFollower, Pacing

class RunLink:
    """What following one run needs: its registry's clients, the run ID, the CA bundle."""

    def __init__(self, service, tasks_client, resource_group: str, registry: str, run_id: str):
        self.service, self.client = service, tasks_client
        self.resource_group, self.registry, self.run_id = resource_group, registry, run_id

    def _call(self, what: str, fn, *args):
        with self.service.translating(f"{what} run {self.run_id}", registry=self.registry,
                                      resource_group=self.resource_group, run_id=self.run_id):
            return fn(self.resource_group, self.registry, *args)

    def get(self):
        return self._call("reading", self.client.runs.get, self.run_id)

    def cancel(self) -> None:
        self._call("canceling", self.client.runs.cancel, self.run_id)

    def status(self) -> str | None:
        """The ARM status, or None when it cannot be read right now (the follow goes on)."""
        try:
            return records.status(self.get())
        except AcrMagicError:
            return None

    def blob(self):
        sdk.ready("azure.storage.blob")
        from azure.storage.blob import BlobClient

        result = self._call("reading the log link of", self.client.runs.get_log_sas_url, self.run_id)
        kwargs = {"connection_verify": self.service.ca_bundle} if self.service.ca_bundle else {}
        return BlobClient.from_blob_url(result.log_link, **kwargs)

    def follow(self, on_text, pacing: Pacing, idle_cutoff: float, wake: threading.Event | None = None,
               should_stop=lambda: False, deadline=lambda: None, follower: LogFollower | None = None,
               fresh: bool = False) -> tuple[Followed, LogFollower]:
        """Follow the log blob (a new link once when its SAS is refused, as it expires after ~70 min)."""
        from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestError, ServiceResponseError

        follower = follower or LogFollower(self.blob(), self.status, pacing, wake, idle_cutoff, fresh=fresh)
        renewed = False
        while True:
            try:
                return follower.follow(on_text, should_stop, deadline), follower
            except HttpResponseError as e:
                if e.status_code == 403 and not renewed:
                    follower.blob, renewed = self.blob(), True
                    continue
                raise CloudError(f"reading the log of run {self.run_id} failed: HTTP {e.status_code} "
                                 f"{' '.join(str(e.reason or '').split())}", status=e.status_code) from None
            except (ServiceRequestError, ServiceResponseError) as e:
                raise CloudError(f"lost the log storage of run {self.run_id}: {str(e).splitlines()[0]}") from None
            except AzureError as e:
                raise CloudError(f"reading the log of run {self.run_id} failed: {str(e).splitlines()[0]}") from None


class AcrRunHandle(RunHandle):
    def __init__(self, link: RunLink, *, source: dict, dockerfile: str | None, platform: dict,
                 steps: list[StepRecord], notes: list[str], timeout: int, pacing: Pacing):
        self.link, self.run_id, self.cancel_ref = link, link.run_id, link.run_id
        self.source, self.dockerfile, self.platform = source, dockerfile, platform
        self.steps, self.notes, self.timeout, self.pacing = steps, notes, timeout, pacing
        self.reason: str | None = None
        self._cancel_sent = False
        self._wake = threading.Event()

    def stop(self, reason: str) -> None:
        """From the supervising thread: never blocks; the worker sends the cancel."""
        self.reason = self.reason or reason
        self._wake.set()

    def execute(self, emit: Emit) -> Outcome:
        reader = LogReader(self.steps)

        def on_text(text: str) -> None:
            for ev in reader.feed(text):
                emit(ev)

        deadline: list[float | None] = [None]
        try:
            followed, follower = self.link.follow(
                on_text, self.pacing, self.pacing.idle_cutoff or self.timeout or acrspec.DEFAULT_TIMEOUT, self._wake,
                should_stop=lambda: self.reason is not None and not self._cancel_sent,
                deadline=lambda: deadline[0], fresh=True)  # scheduled a moment ago
            if followed.stopped and not self._cancel_sent:  # a stop request: cancel, then see it end
                self._send_cancel(emit)
                deadline[0] = time.monotonic() + self.pacing.cancel_grace
                followed, _ = self.link.follow(on_text, self.pacing, self.pacing.cancel_grace + 1, self._wake,
                                               deadline=lambda: deadline[0], follower=follower)
            for ev in reader.flush():
                emit(ev)
            if followed.idle is not None and self.reason is None:
                return Outcome(ERROR, f"no new log lines for {int(followed.idle)} s: stopped following run "
                                      f"{self.run_id} (the run may still be going in ACR; `acrmagic logs {self.run_id}`)")
            return self._outcome(self._final())
        except AcrMagicError as e:  # the service or its storage went away mid-run
            for ev in reader.flush():
                emit(ev)
            return Outcome(ERROR, f"{e.message} (the run may still be going in ACR; `acrmagic logs {self.run_id}`)")

    def _send_cancel(self, emit: Emit) -> None:
        self._cancel_sent = True
        try:
            self.link.cancel()
            emit(LogEvent(f"Sent a cancel request for run {self.run_id} to ACR"))
        except AcrMagicError as e:
            emit(LogEvent(f"The cancel request for run {self.run_id} failed: {e.message}"))

    def _final(self):
        """The run once ARM calls it ended (the blob's Complete metadata comes just before the status)."""
        end = time.monotonic() + self.pacing.end_grace
        run = self.link.get()
        while records.status(run) not in TERMINAL and time.monotonic() < end:
            self._wake.wait(min(0.25, self.pacing.end_grace / 10 or 0.01))
            run = self.link.get()
        return run

    def _outcome(self, run) -> Outcome:
        status = records.status(run)
        images = records.output_images(run)
        if self.reason is not None and status != SUCCEEDED:
            still = "" if status in TERMINAL else (f"; ACR still reports the run {status} "
                                                   f"(`acrmagic logs {self.run_id}`)")
            return stop_outcome(self.reason, self.timeout, still, images)
        if status not in TERMINAL:
            return Outcome(ERROR, f"the log of run {self.run_id} ended but ACR reports it {status} "
                                  f"(`acrmagic logs {self.run_id}`)", images)
        error = run.run_error_message
        if status != SUCCEEDED and not error:
            error = {FAILED: "the run failed in ACR (see its log)", CANCELED: "canceled in ACR",
                     TIMEOUT: f"the run timed out in ACR (timeout {self.timeout}s)"}.get(status, "the run erred in ACR")
        return Outcome(status, error if status != SUCCEEDED else None, images)
