"""Chinese text normalisation: what the Mandarin voice is given to read (and QA expects)."""

from __future__ import annotations

import pytest

from factory.text import is_phone_like, read_chinese, zh_cardinal, zh_decimal, zh_digits
from tts.normalize import normalize, split_sentences


@pytest.mark.parametrize(
    "text, spoken",
    [
        # years and dates
        ("2026年3月5日", "二零二六年三月五日"),
        ("2026年03月05日发布", "二零二六年三月五日发布"),
        ("2026-03-05起施行", "二零二六年三月五日起施行"),
        ("2026/3/5", "二零二六年三月五日"),
        ("2026.3.5", "二零二六年三月五日"),
        ("2020-2025年", "二零二零至二零二五年"),
        ("2024版指南", "二零二四版指南"),
        ("他工作了10年。", "他工作了十年。"),  # a span of years is a number
        ("12月31日前", "十二月三十一日前"),
        ("２０２６年", "二零二六年"),  # full-width digits
        # clock times and ratios
        ("会议14:30开始", "会议十四点三十分开始"),
        ("9:05出发", "九点零五分出发"),
        ("8:00上班", "八点上班"),
        ("17.30分", "十七点三十分"),
        ("比分3:2", "比分三比二"),
        # percentages
        ("增长15%", "增长百分之十五"),
        ("同比增长4.9%", "同比增长百分之四点九"),
        ("0.5%的利率", "百分之零点五的利率"),
        ("下降-2%", "下降负百分之二"),
        ("15%-20%", "百分之十五至二十"),
        ("千分之3", "千分之三"),
        # decimals and plain numbers
        ("3.14", "三点一四"),
        ("1,500人", "一千五百人"),
        ("12000000", "一千二百万"),
        ("100010", "十万零一十"),
        ("-3.2", "负三点二"),
        ("版本3.5.1", "版本三点五点一"),
        ("2个人", "两个人"),
        ("第2名", "第二名"),
        ("2月", "二月"),
        ("12个", "十二个"),
        # money
        ("共1200万元", "共一千二百万元"),
        ("3.5亿元", "三点五亿元"),
        ("1.2万亿元", "一点二万亿元"),
        ("¥1,200", "一千二百元"),
        ("￥88元", "八十八元"),
        ("12.50元", "十二元五角"),
        ("12.05元", "十二元零五分"),
        ("0.05元", "五分"),
        ("$5", "五美元"),
        ("€30", "三十欧元"),
        ("HK$100", "一百港元"),
        ("补贴标准为每人每月1,500元", "补贴标准为每人每月一千五百元"),
        # phone numbers, IDs and codes: digit by digit
        ("电话010-12345678", "电话零一零，一二三四五六七八"),
        ("手机13812345678", "手机一三八一二三四五六七八"),
        ("拨打12345热线", "拨打一二三四五热线"),
        ("身份证号11010119900307432X", "身份证号一一零一零一一九九零零三零七四三二X"),
        ("400-810-5678", "四零零，八一零，五六七八"),
        ("+86 138 1234 5678", "八六，一三八，一二三四，五六七八"),
        ("编号：A1023", "编号：A一零二三"),
        ("007号", "零零七号"),
        # units
        ("5km", "五公里"),
        ("120㎡", "一百二十平方米"),
        ("80 m²的住房", "八十平方米的住房"),
        ("-5℃", "零下五摄氏度"),
        ("30°C", "三十摄氏度"),
        ("3kg", "三公斤"),
        ("60km/h", "六十公里每小时"),
        ("3.5元/kg", "三元五角每公斤"),
        ("10mg", "十毫克"),
        ("500ml", "五百毫升"),
        ("100kWh", "一百千瓦时"),
        ("24h", "二十四小时"),
        ("4000Pa", "四千帕"),
        ("300元/月", "三百元每月"),
        # fractions and ranges
        ("1/3的人", "三分之一的人"),
        ("3-5年", "三至五年"),
        ("10~20人", "十至二十人"),
        # Latin abbreviations and brand names stay for the voice
        ("GDP增长", "GDP增长"),
        ("iPhone 15 Pro", "iPhone 十五 Pro"),
        ("5G网络", "五G网络"),
        ("PM2.5", "PM二点五"),
        ("COVID-19", "COVID 十九"),
        ("A4纸", "A四纸"),
        # signs
        ("A&B", "A和B"),
        ("1+1=2", "一加一等于二"),
        ("≥60分", "大于等于六十分"),
        ("约~5人", "约约五人"),
        ("男/女", "男 女"),
    ],
)
def test_chinese_reading(text: str, spoken: str) -> None:
    assert read_chinese(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("访问https://www.gov.cn/zhengce了解详情。", "访问 gov点cn斜杠zhengce 了解详情。"),
        ("发邮件到service@gov.cn。", "发邮件到 service艾特gov点cn。"),
        ("#乡村振兴#话题", "乡村振兴 话题"),
        ('停顿<break time="2s"/>一下', "停顿 一下"),
        ("**重点**：加油", "重点：加油"),
    ],
)
def test_addresses_and_markup_in_chinese(text: str, spoken: str) -> None:
    assert normalize(text, "zh") == spoken


def test_numerals() -> None:
    assert zh_cardinal(10) == "十" and zh_cardinal(1010) == "一千零一十" and zh_cardinal(120_000_000) == "一亿二千万"
    assert zh_digits("2024") == "二零二四" and zh_decimal("-0.5") == "负零点五" and zh_decimal("1,200") == "一千二百"


def test_phone_like_digit_groups() -> None:
    assert is_phone_like("010-12345678") and is_phone_like("1-800-555-0199") and is_phone_like("138 1234 5678")
    assert not is_phone_like("2020-2025") and not is_phone_like("2026-03-05") and not is_phone_like("10-20")
    assert not is_phone_like("1999 2000 2001")


def test_no_digit_or_sign_is_left_for_the_voice() -> None:
    script = ("2026年3月5日，市政府发布《通知》：对年收入低于12万元的家庭，补贴标准提高15%，"
              "即每月1,500元/户；咨询电话010-12345678，网址www.gov.cn，邮箱info@gov.cn。")
    spoken = normalize(script, "zh")
    assert not any(ch.isdigit() for ch in spoken), spoken
    assert not set("%/@$¥&=") & set(spoken), spoken
    assert normalize(spoken, "zh") == spoken  # reading the result again changes nothing


def test_sentences_split_on_chinese_punctuation_and_long_ones_at_commas() -> None:
    assert split_sentences("你好。今天天气很好！你去吗？“好的。”他说；然后走了。", "zh") == [
        "你好。", "今天天气很好！", "你去吗？", "“好的。”", "他说；", "然后走了。"
    ]
    long = "，".join(["这是一个很长的句子的一部分"] * 20) + "。"
    parts = split_sentences(long, "zh")
    assert len(parts) > 1 and all(len(p) <= 30 for p in parts)
    assert "".join(parts) == long
