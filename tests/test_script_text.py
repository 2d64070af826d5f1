"""Script text in (factory.script_text) and non-finite render parameters refused (sonic.params)."""

from __future__ import annotations

import codecs
import random
import re

import pytest

from factory.script_text import ScriptTextError, clean_script, decode_script, read_script_file
from sonic.params import RenderParamError, RenderParams

ZH = "大家好，欢迎收看今天的新闻。\n今天是2024年5月1日，天气晴。“出发吧！”"
EN_ZH = "Hello, world.\n" + ZH

# No exception class or Python wording may reach an editor.
_PYTHONIC = re.compile(r"Error|Exception|Traceback|codec|byte 0x|position \d", re.IGNORECASE)


@pytest.mark.parametrize("text", [ZH, EN_ZH], ids=["zh", "en+zh"])
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: t.encode("utf-8"), id="utf-8"),
        pytest.param(lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), id="utf-8-bom"),
        pytest.param(lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"), id="utf-16-le-bom"),
        pytest.param(lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), id="utf-16-be-bom"),
        pytest.param(lambda t: t.encode("utf-16"), id="utf-16-native-bom"),
        pytest.param(lambda t: codecs.BOM_UTF32_LE + t.encode("utf-32-le"), id="utf-32-le-bom"),
        pytest.param(lambda t: codecs.BOM_UTF32_BE + t.encode("utf-32-be"), id="utf-32-be-bom"),
        pytest.param(lambda t: t.encode("utf-16-le"), id="utf-16-le-no-bom"),
        pytest.param(lambda t: t.encode("utf-16-be"), id="utf-16-be-no-bom"),
    ],
)
def test_decode_script_gives_the_text_without_bom(encode, text):
    data = encode(text)
    decoded = decode_script(data, "script.txt")
    assert decoded == text
    assert "\ufeff" not in decoded


def test_read_script_file_reads_utf16_written_by_notepad(tmp_path):
    path = tmp_path / "新闻稿.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + ZH.replace("\n", "\r\n").encode("utf-16-le"))
    text = read_script_file(path)
    assert text == ZH.replace("\n", "\r\n")
    assert clean_script(text) == ZH
    assert read_script_file(str(path)) == text  # a str path works too


def test_utf8_with_nuls_is_not_mistaken_for_utf16():
    # A few stray NUL bytes at odd offsets must not turn UTF-8 into UTF-16 gibberish.
    data = "Hello\x00 world, this is the new\x00s!".encode("utf-8")
    assert len(data) % 2 == 0 and data[1::2].count(0) == 2 and data[0::2].count(0) == 0
    text = decode_script(data, "script.txt")
    assert text == "Hello\x00 world, this is the new\x00s!"
    assert clean_script(text) == "Hello world, this is the news!"


def _random_bytes(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def _png_garbage(size: int, seed: int) -> bytes:
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x00\x00\x00\x02\x00\x08\x06\x00\x00\x00"
    return header + _random_bytes(size, seed)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_png_garbage(4096, seed=1), id="png"),
        pytest.param(_png_garbage(64, seed=2), id="short-png"),
        pytest.param(_random_bytes(2048, seed=3), id="random"),
        pytest.param(b"\x00" * 100, id="all-nul"),  # valid UTF-8, but only control characters
        pytest.param(b"ab\x01\x02\x03\x04\x05\x06\x07\x08cd" * 10, id="controls"),
        pytest.param("今天天气很好".encode("gbk"), id="gbk"),
    ],
)
def test_binary_data_is_refused_with_a_sentence(data, tmp_path):
    with pytest.raises(ScriptTextError) as caught:
        decode_script(data, "photo.png")
    message = str(caught.value)
    assert message == "photo.png is not a text file: save it as UTF-8 text and try again."
    assert not _PYTHONIC.search(message)
    assert isinstance(caught.value, ValueError)

    path = tmp_path / "photo.png"
    path.write_bytes(data)
    with pytest.raises(ScriptTextError, match=r"^photo\.png is not a text file: save it as UTF-8 text"):
        read_script_file(path)


def test_damaged_utf16_with_bom_is_refused_with_a_sentence():
    data = codecs.BOM_UTF16_LE + "Hello".encode("utf-16-le") + b"\x00\xd8"  # a lone high surrogate
    with pytest.raises(ScriptTextError) as caught:
        decode_script(data, "script.txt")
    assert str(caught.value) == "script.txt starts like UTF-16 text but is damaged: save it as UTF-8 text and try again."
    assert not _PYTHONIC.search(str(caught.value))


def test_missing_file_and_folder_are_refused_with_a_sentence(tmp_path):
    with pytest.raises(ScriptTextError, match=r"^missing\.txt does not exist"):
        read_script_file(tmp_path / "missing.txt")
    with pytest.raises(ScriptTextError, match=r"is a folder"):
        read_script_file(tmp_path)


def test_empty_file_is_empty_text():
    assert decode_script(b"", "empty.txt") == ""
    assert decode_script(codecs.BOM_UTF8, "empty.txt") == ""


def test_clean_script_drops_nul_and_control_characters_only():
    dirty = "\ufeff大家好，\x00欢迎收看。\x07\r\n今天\x1b是“好日子”！\tOK\x7f\x85end\rlast\u200bline\n"
    assert clean_script(dirty) == "大家好，欢迎收看。\n今天是“好日子”！\tOK\nend\nlastline\n"


def test_clean_script_keeps_ordinary_text_unchanged():
    for text in (ZH, EN_ZH, "Line one.\n\n  Indented line two.\t(tab)\n", "👨\u200d👩\u200d👧 family", "می\u200cخواهم"):
        assert clean_script(text) == text


def test_clean_script_drops_lone_surrogates_and_stray_boms():
    # json.loads('"a\\ud800b"') gives a lone surrogate, which cannot even be encoded for the TTS.
    assert clean_script("a\ud800b\ufeffc\u2060d") == "abcd"
    clean_script("a\ud800b").encode("utf-8")  # no UnicodeEncodeError
    assert clean_script("one\u2028two\u2029three\x0cfour") == "one\ntwo\nthree\nfour"


def test_pure_chinese_utf16_without_bom_is_refused_not_garbled():
    # No ASCII, hence no NUL bytes to recognise it by: asking for UTF-8 beats speaking gibberish.
    data = "大家好欢迎收看今天的新闻天气晴出发吧".encode("utf-16-le")
    with pytest.raises(ScriptTextError, match="is not a text file: save it as UTF-8 text"):
        decode_script(data, "script.txt")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "-Infinity", " NaN ", "1e999"])
@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("dynamic_scale", "a number between 1.0 and 1.5"),
        ("motion_scale", "a number between 0.8 and 1.3"),
        ("expand_ratio", "a number between 0.1 and 0.3"),
        ("min_resolution", "a whole number between 384 and 2048"),
        ("inference_steps", "a whole number between 10 and 50"),
        ("seed", "a whole number"),
    ],
)
def test_render_params_refuse_non_finite_numbers(name, wanted, bad):
    with pytest.raises(RenderParamError) as caught:
        RenderParams.from_dict({name: bad})
    message = str(caught.value)
    assert message.startswith(f"{name} must be {wanted}; got ")
    assert message.endswith(".")
    assert not _PYTHONIC.search(message)


def test_render_params_show_the_value_that_came():
    with pytest.raises(RenderParamError, match=r"^dynamic_scale must be a number between 1.0 and 1.5; got nan\.$"):
        RenderParams.from_dict({"dynamic_scale": float("nan")})
    with pytest.raises(RenderParamError, match=r"^min_resolution must be a whole number between 384 and 2048; got 'inf'\.$"):
        RenderParams.from_dict({"min_resolution": "inf"})
    with pytest.raises(RenderParamError, match=r"^min_resolution must be a whole number between 384 and 2048; got 512\.5\.$"):
        RenderParams.from_dict({"min_resolution": 512.5})
    with pytest.raises(RenderParamError, match=r"^keep_crop must be a bool; got nan\.$"):
        RenderParams.from_dict({"keep_crop": float("nan")})  # bool(nan) would be True


@pytest.mark.parametrize("name", ["dynamic_scale", "min_resolution", "seed"])
def test_validate_refuses_non_finite_numbers_set_directly(name):
    params = RenderParams.from_dict({})
    setattr(params, name, float("nan"))
    with pytest.raises(RenderParamError, match=rf"^{name} must be a .*number.*; got nan\.$"):
        params.validate()
    setattr(params, name, float("inf"))
    with pytest.raises(RenderParamError, match=rf"^{name} must be .*; got inf\.$"):
        params.validate()


def test_render_params_still_accept_normal_values():
    params = RenderParams.from_dict(
        {"dynamic_scale": 1.3, "motion_scale": "1.2", "min_resolution": "768", "inference_steps": 30.0,
         "expand_ratio": " 0.2 ", "seed": "42", "keep_crop": "yes", "voice": "ignored"}
    )
    assert (params.dynamic_scale, params.motion_scale, params.min_resolution, params.inference_steps) == (1.3, 1.2, 768, 30)
    assert (params.expand_ratio, params.seed, params.keep_crop) == (0.2, 42, True)
    assert type(params.min_resolution) is int and type(params.inference_steps) is int and type(params.seed) is int
    assert params.validate() is params
    assert RenderParams.from_dict({"dynamic_scale": 1.0, "min_resolution": 2048}).dynamic_scale == 1.0  # ends of the range
    with pytest.raises(RenderParamError, match="dynamic_scale must be between 1.0 and 1.5; got 1.6"):
        RenderParams.from_dict({"dynamic_scale": 1.6})
