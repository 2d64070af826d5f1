"""Chinese transcript check: CER after the same normalisation on both sides."""

from __future__ import annotations

import pytest

from qa.text_metrics import chinese_tokens, error_rate
from tts.normalize import normalize


@pytest.mark.parametrize(
    "script, heard",
    [
        # Whisper base writes traditional characters
        ("这个软件的信息里面有两个数字。", "這個軟件的信息裡面有兩個數字"),
        ("国务院办公厅关于进一步优化营商环境的意见", "國務院辦公廳關於進一步優化營商環境的意見"),
        # numerals read the same way, whichever way they are written
        ("项目总投资1200万元。", "項目總投資一千二百萬元"),
        ("项目总投资一千二百万元。", "项目总投资1200万元"),
        ("总投资一千两百万元", "总投资1,200万元"),
        ("增长15%。", "增長百分之十五"),
        ("增长百分之十五", "增长15%"),
        ("2026年3月5日起施行。", "二〇二六年三月五日起施行"),
        ("二零二六年三月五日", "2026年3月5日"),
        ("利率为3.5%", "利率為百分之三點五"),
        ("每月补贴1,500元", "每月补贴一千五百元"),
        ("速度60km/h", "速度60公里每小時"),
        ("咨询电话12345", "諮詢電話一二三四五"),
        ("会议14:30开始", "會議14點30分開始"),
        ("工作日9:00至17:30", "工作日9點至17.30分"),
        ("2个人", "兩個人"),
        # Whisper writes a character that sounds the same: the voice said the right thing
        ("个人所得税起征点为每月5,000元，专项附加扣除另计。", "個人所得睡起爭點位每月5000元專項付加扣除令技"),
        ("新能源汽车突破200万辆", "新能源汽車突破200萬量"),
        # punctuation and spaces do not count; Latin words compare whole, in any case
        ("GDP增长了。", "gdp 增长了"),
        ("“好的，”他说：“走吧！”", "好的他说走吧"),
    ],
)
def test_same_speech_written_differently_is_no_error(script: str, heard: str) -> None:
    result = error_rate(script, heard, "zh")
    assert result.unit == "char" and result.rate == 0.0, result.differences()


def test_real_differences_still_count() -> None:
    result = error_rate("项目总投资1200万元。", "项目总投资1300万元", "zh")
    assert result.substitutions == 1 and result.differences() == ['heard "三" instead of "二"']
    assert result.reference_length == len("项目总投资一千二百万元")
    assert error_rate("今天天气很好", "今天天氣不好", "zh").rate == pytest.approx(1 / 6, abs=1e-4)
    assert error_rate("增长15%", "增长50%", "zh").rate > 0
    assert error_rate("会议于三月五日举行", "", "zh").rate == 1.0
    # a Latin word is not a syllable: "AI" and a character read "ai" differ
    assert error_rate("AI手机", "爱手机", "zh").substitutions == 1


def test_language_is_taken_from_the_script_when_not_given() -> None:
    assert error_rate("预算1200万元", "預算一千二百萬元").rate == 0.0


@pytest.mark.parametrize("script", [
    "2026年3月5日，市政府发布通知：补贴标准提高15%，即每月1,500元/户。",
    "咨询电话010-12345678，网址www.gov.cn，邮箱info@gov.cn。",
    "新款iPhone 15售价¥5,999，支持5G，续航24h，重量0.2kg，温度-5℃也能用。",
    "会议14:30开始，比分3:2，1/3的人赞成，3-5年内完成，同比增长4.9%。",
    "A&B两家公司合作，1+1=2。",
])
def test_the_check_expects_what_the_voice_was_given(script: str) -> None:
    """The comparison form of the script equals that of the text the Mandarin voice read."""
    assert chinese_tokens(script) == chinese_tokens(normalize(script, "zh"))
