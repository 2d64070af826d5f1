"""How often the Chinese transcript check fails a good narration (prints numbers; not a test).

    .venv/bin/python bench/bench_qa_cer_zh.py [--sentences 24] [--workdir /tmp/qa-cer-zh] [--reuse]

Like bench_qa_wer.py, for Chinese: each policy or product sentence below (dates, money,
percentages, units, phone numbers, Latin brand names, signs) is spoken by the speak stage's
Mandarin voice (``load_engine("", "zh")``), muxed as AAC into an MP4 as the render stage does,
transcribed by Whisper base (``qa.asr.transcribe``, language "zh") and scored exactly as the
check stage does (``qa.text_metrics.error_rate`` against the script as written). The voice is
deterministic, so the four renditions of a sentence are the voice as it speaks and the same
speech played slower and faster (ffmpeg ``atempo``, pitch kept): 1.0x, 0.85x, 1.15x, 1.3x.
The gate's CER counts characters that sound alike as the same (``qa.text_metrics.sounds_alike``);
also printed: the CER of the same transcripts with the same normalisation but every character
compared as written, and with no normalisation at all (what the numbers would be without
simplified characters, numeral reading and sound).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_qa_wer import narration_mp4, print_summary  # noqa: E402  (bench/, the script's own folder)

SENTENCES = [
    "2026年3月5日，国务院常务会议审议通过了新的稳就业政策。",
    "今年一季度，全市地区生产总值同比增长5.3%。",
    "对年收入低于12万元的家庭，每月补贴标准提高到1,500元。",
    "新建住房面积不得超过120㎡，超出部分按市场价格计算。",
    "中央财政安排专项资金3.5亿元，用于农村道路建设。",
    "符合条件的小微企业，增值税税率由3%降至1%。",
    "本政策自2026年1月1日起施行，有效期3至5年。",
    "咨询电话：12345，工作日9:00至17:30均可拨打。",
    "个人所得税起征点为每月5,000元，专项附加扣除另计。",
    "全省新能源汽车保有量突破200万辆，充电桩超过45万个。",
    "农业用水价格为每立方米0.8元，工业用水另行定价。",
    "失业保险金按当地最低工资标准的90%发放。",
    "这款手机售价¥2,999元，支持5G网络，电池容量5000mAh。",
    "新款笔记本电脑重量仅1.2kg，续航时间达到18小时。",
    "这台空调一晚只用2度电，制冷温度最低可到16℃。",
    "会员每月只需19.9元，就能享受8折优惠和免费配送。",
    "我们的AI助手每天回答超过10万个问题，准确率达到98.5%。",
    "扫地机器人吸力提升到4000Pa，噪音低于55分贝。",
    "这款电动车最高时速25km/h，一次充电可行驶60公里。",
    "即日起至12月31日，全场商品满300元减50元。",
    "新店开业前3天，到店顾客均可领取一份小礼品。",
    "这款面霜含有2%的烟酰胺，适合所有肤质使用。",
    "客服热线400-810-5678，全年无休为您服务。",
    "A&B两家公司签署合作协议，计划投资1200万元共建工厂。",
]
TEMPOS = (1.0, 0.85, 1.15, 1.3)


def change_tempo(wav: Path, tempo: float, out: Path) -> Path:
    """The same speech played ``tempo`` times as fast, pitch kept (ffmpeg's atempo)."""
    from factory.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-filter:a", f"atempo={tempo}", str(out)],
                   check=True)
    return out


def cer(ref: list[str], hyp: list[str]) -> float:
    from qa.text_metrics import align

    return sum(op.op != "equal" for op in align(ref, hyp)) / max(len(ref), 1)


def raw_cer(reference: str, hypothesis: str) -> float:
    """Character error rate with no normalisation beyond dropping punctuation and spaces."""
    def chars(text: str) -> list[str]:
        return [ch for ch in unicodedata.normalize("NFKC", text).lower() if unicodedata.category(ch)[0] not in "PSZC"]

    return cer(chars(reference), chars(hypothesis))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--workdir", default="/tmp/qa-cer-zh")
    parser.add_argument("--reuse", action="store_true",
                        help="score the narrations already in --workdir again (compare two versions of the check on the same audio)")
    args = parser.parse_args()

    from factory.media import decode_audio, write_wav
    from factory.settings import Settings
    from qa.asr import transcribe
    from qa.gate import QAThresholds
    from qa.text_metrics import error_rate, normalize
    from tts.engine import load_engine

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(data_dir=work / "data")
    limit = QAThresholds.from_settings(settings).max_cer
    engine = load_engine("", "zh")
    sentences = SENTENCES[: args.sentences]
    rates: list[float] = []
    raw_rates: list[float] = []
    char_rates: list[float] = []
    misheard: collections.Counter[str] = collections.Counter()
    synth_seconds = audio_seconds = 0.0
    start = time.perf_counter()
    print(f"{len(sentences)} sentences x {len(TEMPOS)} renditions (tempo {', '.join(f'{t:g}x' for t in TEMPOS)}), "
          f"voice {engine.name}, CER limit {limit:.0%}", flush=True)
    for i, text in enumerate(sentences):
        sentence_rates = []
        for k, tempo in enumerate(TEMPOS):
            video = work / f"s{i:02d}_{k}.mp4"
            if not (args.reuse and video.exists()):
                wav = work / f"s{i:02d}.wav"
                if k == 0:
                    t = time.perf_counter()
                    speech = engine.synthesize(text, "zh")
                    synth_seconds += time.perf_counter() - t
                    audio_seconds += speech.seconds
                    write_wav(wav, speech.samples, speech.sample_rate)
                source = wav if tempo == 1.0 else change_tempo(wav, tempo, work / f"s{i:02d}_{k}.wav")
                samples, rate = decode_audio(source)
                narration_mp4(video, samples, rate)
            heard = transcribe(video, language="zh", settings=settings).text
            rate = error_rate(text, heard, "zh")
            sentence_rates.append(rate.rate)
            raw_rates.append(raw_cer(text, heard))
            char_rates.append(cer(normalize(text, "zh"), normalize(heard, "zh")))
            misheard.update(rate.differences())
        rates += sentence_rates
        print(f"  {i:2d}  mean {np.mean(sentence_rates):6.1%}  max {max(sentence_rates):6.1%}  {text[:30]}", flush=True)

    print_summary(rates, limit, misheard, "CER")
    for label, other in (("characters as written (no sound)", char_rates), ("no normalisation at all", raw_rates)):
        other = np.array(other)
        print(f"the same transcripts, {label}: mean CER {other.mean():.1%}, 95th percentile "
              f"{np.percentile(other, 95):.1%}, over the limit {(other > limit).sum()} of {other.size}")
    if audio_seconds:
        print(f"Mandarin voice: {audio_seconds:.1f} s of speech in {synth_seconds:.1f} s (real-time factor "
              f"{synth_seconds / audio_seconds:.3f}, first sentence includes loading)")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
