"""The model: yaml.v2's typing, acr-builder's numeric rules, and what ACR refuses only when it runs a step
(Docker's syntax for ports, expose and networks), each refused at load with file, line, column and step."""

from __future__ import annotations

import pytest

from acrmagic.errors import TaskFileError
from acrmagic.taskfile import RunInfo, load

RUN = RunInfo(id="cb1", registry="myreg.azurecr.io")


def step_with(prop: str) -> str:
    return f"version: v1.1.0\nsteps:\n  - id: s\n    cmd: busybox true\n    {prop}\n"


def refused(text: str) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load(text, RUN, file="t.yaml")
    assert "\n" not in str(info.value)
    return info.value


def the_step(text: str):
    return load(text, RUN).task.steps[0]


# -- numbers: Go's int (int64) as yaml.v2 fills it --------------------------------------------------------------

@pytest.mark.parametrize("value,message", [
    ("9223372036854775808", "cannot unmarshal !!int `9223372...` into int"),  # past int64 (fits uint64)
    ("18446744073709551616", "cannot unmarshal !!float `1844674...` into int"),  # past uint64: a float to yaml.v2
    ("1e400", "cannot unmarshal !!str `1e400` into int"),  # ParseFloat overflows: a string
    (".inf", "cannot unmarshal !!float `.inf` into int"),
    (".nan", "cannot unmarshal !!float `.nan` into int"),
    ("1:30", "cannot unmarshal !!str `1:30` into int"),  # YAML 1.1 sexagesimal: PyYAML's int, not yaml.v2's
    ("'5'", "cannot unmarshal !!str `5` into int"),
    ("true", "cannot unmarshal !!bool `true` into int"),
    ("!!int abc", "yaml: cannot decode !!str `abc` as a !!int"),
])
def test_numbers_that_do_not_fit_an_int_are_refused_where_they_are(value, message):
    err = refused(step_with(f"timeout: {value}"))
    assert message in err.reason and err.kind == "yaml_type_error"
    assert (err.file, err.line, err.column) == ("t.yaml", 5, 14)


@pytest.mark.parametrize("value,seconds", [
    ("1.5", 1), ("0.5", 600), ("-1.5", 600),  # yaml.v2 truncates floats into ints; <= 0 inherits stepTimeout
    ("-5", 600), ("0", 600), ("1e3", 1000), ("0x10", 16), ("0o10", 8), ("010", 8), ("08", 8), ("1_000", 1000),
    ("9223372036854775807", 9223372036854775807), ("~", 600),
])
def test_numbers_acr_builder_accepts(value, seconds):
    assert the_step(step_with(f"timeout: {value}")).timeout == seconds


def test_retry_delay_and_start_delay_follow_acr_builder():
    step = the_step(step_with("retryDelay: -3\n    startDelay: -2\n    repeat: 0"))
    assert step.retry_delay == 5 and step.get("startDelay") == -2  # <= 0: default 5; a negative delay waits 0
    assert the_step(step_with("retryDelay: 2.9")).retry_delay == 2


@pytest.mark.parametrize("prop,kind", [("retries: -1", "negative_retries"), ("repeat: -2", "negative_repeat")])
def test_negative_retries_and_repeat_point_at_the_value(prop, kind):
    err = refused(step_with(prop))
    assert (err.kind, err.line, err.column, err.step) == (kind, 5, 5 + len(prop.split(":")[0]) + 2, "s")


def test_integer_lists_and_the_task_step_timeout_are_typed_too():
    assert "cannot unmarshal !!str `x` into int" in refused(step_with("exitedWith: [1, x]")).reason
    err = refused("stepTimeout: 99999999999999999999\nsteps:\n  - cmd: x\n")
    assert err.kind == "yaml_type_error" and (err.line, err.column) == (1, 14)


# -- booleans: yaml.v2's words ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,detach", [("y", True), ("Y", True), ("yes", True), ("on", True), ("n", False),
                                          ("off", False), ("false", False)])
def test_yaml_v2_booleans(value, detach):
    assert the_step(step_with(f"detach: {value}")).get("detach") is detach


@pytest.mark.parametrize("value,message", [("1", "!!int `1` into bool"), ('"yes"', "!!str `yes` into bool"),
                                           ("maybe", "!!str `maybe` into bool")])
def test_non_booleans_are_refused(value, message):
    err = refused(step_with(f"detach: {value}"))
    assert message in err.reason and (err.line, err.column) == (5, 13)


def test_many_type_errors_stay_one_short_line():
    text = "steps:\n" + "".join(f"  - cmd: x\n    timeout: t{i}\n" for i in range(50))
    err = refused(text)
    assert err.reason.endswith("; and 46 more") and len(str(err)) < 300


# -- yaml.v2's decoding: nulls, merge keys, keys ----------------------------------------------------------------

def test_null_list_items_are_zero_values_not_crashes():
    plan = load("steps:\n  - push: [~, r/a]\n  - cmd: x\n    env: [~]\n    exitedWith: [~]\n", RUN)
    assert plan.task.steps[0].push == [":latest", "r/a:latest"]  # an empty ref, normalised as acr-builder does
    assert plan.task.steps[1].env == [""]
    for text, kind in [("secrets: [~]\nsteps: []\n", "secret_missing_id"),
                       ("volumes: [~]\nsteps: []\n", "volume_name_empty"),
                       ("networks: [~]\nsteps: []\n", "invalid_network_name"),
                       ("steps: [~]\n", "missing_step_type")]:
        assert refused(text).kind == kind


def test_an_empty_id_is_generated():
    assert the_step("steps:\n  - id: ''\n    cmd: x\n").id == "acb_step_0"


def test_merge_keys_merge_with_the_mappings_own_keys_winning():
    text = ("defaults: &d\n  timeout: 30\n  detach: true\n  retries: 1\nmore: &m\n  retries: 2\n  keep: true\n"
            "steps:\n  - <<: [*d, *m]\n    cmd: x\n    timeout: 5\n")
    step = the_step(text)
    assert (step.timeout, step.get("detach"), step.get("retries"), step.get("keep")) == (5, True, 1, True)
    assert refused("steps:\n  - <<: 5\n    cmd: x\n").reason == ("yaml: map merge requires map or sequence of maps "
                                                           "as the value")


def test_a_key_that_is_not_a_scalar_is_a_type_error():
    assert "cannot unmarshal !!seq into string" in refused("steps:\n  - ? [a]\n    : 1\n    cmd: x\n").reason


def test_v1_files_with_an_alias_key_are_fine():
    assert the_step("alias: [whatever]\nsteps:\n  - cmd: x\n").cmd == "x"  # an unknown key in v1.0.0


# -- what `docker run -p/--expose/--network` and `docker network create` would refuse in ACR ------------------

@pytest.mark.parametrize("port", [
    "8080", "8080:80", "127.0.0.1:8080:80/tcp", "127.0.0.1::80", "[::1]:8080:80", "8000-8010:8000-8010",
    "8000-8010:80", "53:53/udp", "80/SCTP", "published=8080,target=80", "target=80,protocol=udp,mode=host",
])
def test_docker_port_syntax_accepted(port):
    assert the_step(step_with(f"ports: ['{port}']")).get("ports") == [port]


@pytest.mark.parametrize("port,why", [
    ("abc", "invalid container port abc"), ("8080:", "no container port"), ("70000", "invalid container port"),
    ("1.2.3:80:80", "invalid IP address 1.2.3"), ("80/icmp", "invalid protocol icmp"),
    ("8000-8010:80-81", "differ in length"), ("90-80", "invalid container port"), ("x:80", "invalid host port x"),
    ("target=80,tcp", "is not name=value"),
])
def test_docker_port_syntax_refused(port, why):
    err = refused(step_with(f"ports: ['80', '{port}']"))
    assert err.kind == "invalid_ports" and why in err.reason and "docker run -p" in err.reason
    assert (err.line, err.column, err.step) == (5, 19, "s")  # the second item


@pytest.mark.parametrize("expose,ok", [("80", True), ("80/udp", True), ("8000-8010", True), ("8000-8010/tcp", True),
                                       ("80:80", False), ("http", False), ("80/xyz", False), ("", False)])
def test_docker_expose_syntax(expose, ok):
    text = step_with(f"expose: ['{expose}']")
    if ok:
        assert the_step(text).get("expose") == [expose]
    else:
        assert refused(text).kind == "invalid_expose"


@pytest.mark.parametrize("network,ok", [("host", True), ("my_net.1-a", True), ("container:web", True),
                                        ("-bad", False), ("a b", False), ("container:", False), ("net/1", False)])
def test_a_steps_network(network, ok):
    text = step_with(f"network: '{network}'")
    if ok:
        assert the_step(text).network == network
    else:
        err = refused(text)
        assert err.kind == "invalid_network" and (err.line, err.column) == (5, 14)


def test_ports_on_push_steps_are_not_looked_at():  # acr-builder runs pushes with none of the container options
    assert load("steps:\n  - push: [r/a]\n    ports: [nonsense]\n", RUN).task.steps[0].type == "push"


@pytest.mark.parametrize("networks,kind", [
    ("  - name: 'bad name'\n", "invalid_network_name"),
    ("  - name: ''\n", "invalid_network_name"),
    ("  - name: n\n    driver: weave\n", "invalid_network_driver"),
    ("  - name: host\n", "predefined_network"),
    ("  - name: n\n  - name: n\n", "duplicate_network"),
])
def test_declared_networks_refused(networks, kind):
    err = refused(f"networks:\n{networks}steps:\n  - cmd: x\n")
    assert err.kind == kind and err.line is not None and err.column is not None


def test_declared_networks_accepted():
    text = ("networks:\n  - name: host\n    skipCreation: true\n  - name: n1\n    driver: bridge\n    isDefault: true\n"
            "  - name: n2\n    driver: macvlan\nsteps:\n  - cmd: x\n")
    assert [n.name for n in load(text, RUN).task.networks] == ["host", "n1", "n2"]


# -- the alias block and alias src files are typed as acr-builder's Alias struct --------------------------------

def test_alias_values_are_the_text_written():  # map[string]string: `1.10` stays 1.10
    assert the_step("version: v1.1.0\nalias:\n  values:\n    v: 1.10\nsteps:\n  - cmd: x $v\n").cmd == "x 1.10"


@pytest.mark.parametrize("alias,message", [
    ("  src: a.yaml\n", "cannot unmarshal !!str `a.yaml` into []string"),
    ("  values: [a]\n", "cannot unmarshal !!seq into map[string]string"),
    ("  values:\n    a: {b: c}\n", "cannot unmarshal !!map into string"),
])
def test_alias_blocks_of_the_wrong_shape_are_refused(alias, message):
    err = refused(f"version: v1.1.0\nalias:\n{alias}steps:\n  - cmd: x\n")
    assert err.kind == "alias_parse_error" and message in err.reason and err.line in (3, 4)


def test_an_empty_directive_keeps_the_dollar_and_a_non_ascii_one_is_allowed():
    assert the_step("version: v1.1.0\nalias:\n  directive: ''\nsteps:\n  - cmd: x $ID\n").cmd == "x cb1"
    assert the_step("version: v1.1.0\nalias:\n  directive: é\nsteps:\n  - cmd: x éID $ID\n").cmd == "x cb1 $ID"


def test_alias_src_files_are_utf8_maps_of_strings(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"img: caf\xe9\n")
    (tmp_path / "list.yaml").write_text("- a\n")
    text = "version: v1.1.0\nalias:\n  src: [{}]\nsteps:\n  - cmd: $img\n"
    with pytest.raises(TaskFileError) as info:
        load(text.format("bad.yaml"), RUN, base_dir=tmp_path)
    assert str(info.value) == "bad.yaml:1:9: not UTF-8 (byte 0xe9); save the file as UTF-8"
    with pytest.raises(TaskFileError, match=r"list\.yaml:1:1: yaml: unmarshal errors: cannot unmarshal !!seq into "
                                            r"map\[string\]string"):
        load(text.format("list.yaml"), RUN, base_dir=tmp_path)
