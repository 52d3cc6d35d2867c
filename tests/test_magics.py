"""The IPython magics, through a real InteractiveShell (the same path as a notebook cell)."""

from __future__ import annotations

import pytest

import acrmagic




def run(ip, code: str):
    result = ip.run_cell(code)
    return result


@pytest.mark.engine
def test_cell_builds_and_returns_run_without_var_expansion(ip, make_context, capsys):
    ctx = make_context({"hello.txt": "hi\n"})
    ip.user_ns["Registry"] = "OOPS"  # must not leak into the line: ACR's $Registry is meant
    ip.user_ns["ID"] = "7"
    result = run(ip, f"%%acrbuild -t $Registry/magic:{{{{.Run.ID}}}} --context {ctx}\nFROM busybox\nCOPY hello.txt /\n")
    assert result.error_in_exec is None
    out = result.result
    assert isinstance(out, acrmagic.Run) and out.status == "Succeeded"
    assert out.output_images[0].ref.startswith(f"localhost:5000/magic:{out.run_id}@sha256:")
    assert repr(out).startswith(f"<Run {out.run_id}: Succeeded in ")
    runs = run(ip, "%acr runs --top 5").result
    assert runs[0].run_id == out.run_id and out.run_id in repr(runs) and "<table" in runs._repr_html_()
    assert run(ip, f"%acr show {out.run_id}").result.run_id == out.run_id
    capsys.readouterr()
    run(ip, f"%acr logs {out.run_id}")
    assert "COPY hello.txt" in capsys.readouterr().out


@pytest.mark.engine
def test_failed_build_raises_one_project_error(ip, make_context):
    ctx = make_context({})
    result = run(ip, f"%%acrbuild --context {ctx}\nFROM busybox\nRUN exit 5\n")
    err = result.error_in_exec
    assert isinstance(err, acrmagic.RunFailed) and "exit code 5" in err._render_traceback_()[0]


def test_empty_cell_and_unknown_flag_raise_project_errors(ip):
    assert isinstance(run(ip, "%%acrbuild\n\n").error_in_exec, acrmagic.UsageError)
    err = run(ip, "%%acrbuild --bogus\nFROM busybox\n").error_in_exec
    assert isinstance(err, acrmagic.UsageError) and "unrecognized arguments: --bogus" in err.message


def test_help_text_lists_the_flags(ip, capsys):
    # what a user sees: `%%acrbuild?` pages IPython's inspection, which Jupyter's Shift-Tab also asks for
    capsys.readouterr()
    assert run(ip, "%%acrbuild?\n").success
    doc = capsys.readouterr().out
    assert "usage: %%acrbuild" in doc and "--no-push" in ip.object_inspect_mime("%%acrbuild")["text/plain"]
    for flag in ("--image", "--registry", "--context", "--file", "--build-arg", "--secret-build-arg", "--target",
                 "--platform", "--no-push", "--no-cache", "--timeout", "--no-logs"):
        assert flag in doc, flag
    for name in ("%acrtask", "%%acrtask"):
        doc = ip.object_inspect_text(name)
        for flag in ("usage: %%acrtask", "--file", "--set-secret", "--values", "--dry-run"):
            assert flag in doc, (name, flag)


def test_the_listings_show_one_line_per_magic(ip):
    listed = ip.magics_manager.lsmagic_docs(brief=True)
    for kind, name in (("cell", "acrbuild"), ("cell", "acrtask"), ("line", "acr")):
        assert "?` lists" in listed[kind][name] and "usage" not in listed[kind][name], name


def test_acr_help_lists_every_verb_and_its_flags(ip, capsys):
    doc = ip.object_inspect_text("%acr")
    for verb in ("runs", "show", "logs", "cancel", "use", "task", "scheduler", "trace"):
        assert f"usage: %acr {verb}" in doc, verb
    for verb in ("create", "update", "list-runs", "enable"):  # the task verbs, each with its own flags
        assert f"usage: %acr task {verb}" in doc, verb
    for flag in ("--status", "--resource-group", "--identity", "--emulator", "--schedule", "--base-image-trigger",
                 "--poll-interval", "--webhook-port", "ACRMAGIC_REGISTRY"):
        assert flag in doc, flag
    for line in ("runs -h", "use -h", "logs -h", "trace -h", "task create -h", "scheduler -h"):
        capsys.readouterr()
        result = run(ip, f"%acr {line}")
        assert result.error_in_exec is None and result.result is None, line
        assert capsys.readouterr().out.startswith(f"usage: %acr {line.removesuffix(' -h')} "), line
    capsys.readouterr()
    run(ip, "%acr runs -h")
    assert "--status STATUS" in capsys.readouterr().out
    err = run(ip, "%acr bogus").error_in_exec
    assert isinstance(err, acrmagic.UsageError) and "task" in err.message and "trace" in err.message


def test_quoted_values_keep_spaces(ip, monkeypatch):
    seen = []
    monkeypatch.setattr(acrmagic.api, "build_with", lambda opts, observer=None: seen.append(opts))
    run(ip, '%%acrbuild --build-arg MSG="hello world" -t "app:1"\nFROM busybox\n')
    [opts] = seen
    assert opts.build_args == {"MSG": "hello world"} and opts.images == ["app:1"]
    assert opts.dockerfile_text == "FROM busybox\n"


@pytest.mark.engine
def test_acrtask_cell_runs_steps_and_line_form_reads_a_file(ip, make_context, tmp_path):
    ctx = make_context({})
    ip.user_ns["ID"] = "python-variable"  # $ID in the cell is ACR's alias, not IPython's
    result = run(ip, f"%%acrtask --context {ctx} --set who=notebook\nversion: v1.1.0\nsteps:\n"
                     "  - cmd: busybox echo hello {{.Values.who}} $ID\n")
    out = result.result
    assert result.error_in_exec is None and out.status == "Succeeded" and out.run_type == "QuickRun"
    assert f"hello notebook {out.run_id}" in out.log()
    task = tmp_path / "t.yaml"
    task.write_text("version: v1.1.0\nsteps:\n  - cmd: busybox echo from-file\n")
    assert "from-file" in run(ip, f"%acrtask -f {task} --context {ctx}").result.log()


def test_acrtask_dry_run_and_bad_yaml(ip, make_context):
    ctx = make_context({})
    plan = run(ip, f"%%acrtask --dry-run --context {ctx}\nversion: v1.1.0\nsteps:\n  - cmd: busybox echo $ID\n").result
    assert "busybox echo dryrun" in repr(plan)
    err = run(ip, f"%%acrtask --context {ctx}\nversion: v1.1.0\nsteps:\n  - cmd: [\n").error_in_exec
    assert isinstance(err, acrmagic.TaskFileError) and err.message.startswith("<cell>:")
    assert len(err._render_traceback_()) == 1


def test_run_cells_are_awaited_in_a_kernel_and_left_alone_otherwise(ip):
    from acrmagic.magics import await_run_cells

    cell = ["%%acrbuild -t app:{{.Run.ID}} --context .\n", "FROM busybox\n"]
    out = await_run_cells(cell)
    assert out[0].startswith("await __import__('acrmagic.magics').magics.run_cell_async('acrbuild', ")
    assert "'-t app:{{.Run.ID}} --context .'" in out[0] and "'FROM busybox\\n'" in out[0]
    assert await_run_cells(["%%acrbuild?\n"]) == ["%%acrbuild?\n"]
    assert await_run_cells(["%acr runs\n"]) == ["%acr runs\n"]
    assert await_run_cells(["%acrtask -f t.yaml\n", "x = 1\n"]) == ["%acrtask -f t.yaml\n", "x = 1\n"]
    ip.autoawait = False
    try:
        assert await_run_cells(cell) == cell
    finally:
        ip.autoawait = True


@pytest.mark.engine
def test_task_definitions_through_acrtask_and_acr_task(ip, make_context, capsys):
    """`%%acrtask create` takes the cell as the task's Dockerfile; `%acr task`, `%acrtask run` and
    `%acr trace` reach the same definitions (the tasks module is wired into both magics)."""
    ctx = make_context({"hello.txt": "hi\n"})
    made = run(ip, f"%%acrtask create -n magictask -t magictask:{{{{.Run.ID}}}} -c {ctx} --base-image-trigger-enabled "
                   "false\nFROM busybox\nCOPY hello.txt /\n")
    assert made.error_in_exec is None, made.error_in_exec
    assert "magictask" in [t["name"] for t in run(ip, "%acr task list -o json").result]
    done = run(ip, "%acrtask run -n magictask")
    assert done.error_in_exec is None, done.error_in_exec
    built = done.result
    assert built.status == "Succeeded" and built.task == "magictask"
    assert run(ip, "%acr runs --task magictask").result[0].run_id == built.run_id
    traced = run(ip, f"%acr trace {built.output_images[0].ref}")
    assert traced.error_in_exec is None and built.run_id in repr(traced.result)
    bad = run(ip, "%acrtask create -n x")
    assert bad.error_in_exec is not None and "--name" in str(bad.error_in_exec)
    run(ip, "%acrtask delete -n magictask")


@pytest.mark.parametrize("verb", ["runs", "show", "logs", "cancel", "use", "task", "task create", "scheduler", "trace"])
def test_every_acr_verb_has_its_own_help(ip, capsys, verb):
    result = run(ip, f"%acr {verb} -h")
    assert result.error_in_exec is None and result.result is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %acr ") and verb.split()[0] in out.splitlines()[0]


def test_no_engine_says_how_to_build_in_acr_instead(ip, make_context, monkeypatch):
    # a hosted notebook: no Docker engine answers
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/no-such-engine.sock")
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:1/hub/api")
    err = run(ip, f"%%acrbuild --context {make_context({})}\nFROM busybox\n").error_in_exec
    assert isinstance(err, acrmagic.EngineUnavailable) and "no-such-engine.sock" in err.message
    [rendered] = err._render_traceback_()  # one line
    assert "`%acr use REGISTRY -g GROUP`" in rendered and "device-code login" in rendered
