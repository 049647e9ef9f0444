"""A report as people read it: short text (Telegram), CSV (spreadsheets), JSON (dashboards) and a
PNG chart. The same figures in every form; names of roles and topics from the knowledge."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from babel.numbers import format_decimal

from bot.domain.reports import OTHER, Count, Durations, Outcomes, Report
from bot.i18n import format_age, gettext, ngettext
from bot.services import Services

CSV_DELIMITER = ";"  # what a Finnish spreadsheet expects, since the comma is the decimal mark
CSV_ENCODING = "utf-8-sig"  # the byte-order mark makes Excel read ä and ö correctly


def _role(services: Services, role: str | None, lang: str) -> str:
    if role is None or role == OTHER or role not in services.knowledge.roles:
        return gettext(lang, "other")
    return services.role_name(role, lang)


def _topic(services: Services, topic: str, lang: str) -> str:
    return gettext(lang, "other") if topic == OTHER else services.topic_name(topic, lang)


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else ("±0" if value == 0 else f"−{-value}")


def _number(value: float, lang: str) -> str:
    return format_decimal(round(value, 1), format="#,##0.#", locale=lang)


def _durations(services: Services, figures: list[Durations], lang: str) -> list[str]:
    return [
        "  " + ngettext(lang, "{role}: {median} / {p90} (office time {office_median} / "
                              "{office_p90}), {count} question",
                        "{role}: {median} / {p90} (office time {office_median} / "
                        "{office_p90}), {count} questions", d.count,
                        role=_role(services, d.role, lang), count=d.count,
                        median=format_age(d.median, lang), p90=format_age(d.p90, lang),
                        office_median=format_age(d.office_median, lang),
                        office_p90=format_age(d.office_p90, lang))
        for d in figures
    ]


def _outcome_figures(outcomes: Outcomes) -> list[tuple[str, int]]:
    """The outcomes in the order people read them, under their names in CSV and JSON."""
    return [("answered_by_helper", outcomes.helper),
            ("solved_by_self_service", outcomes.self_service),
            ("solved_by_asker", outcomes.asker), ("withdrawn", outcomes.withdrawn)]


def _outcome_labels(lang: str, now: Outcomes) -> list[str]:
    """One line per outcome, in the plural the count needs."""
    return [
        ngettext(lang, "{count} question answered by a helper",
                 "{count} questions answered by a helper", now.helper, count=now.helper),
        ngettext(lang, "{count} question solved by a self-service answer",
                 "{count} questions solved by a self-service answer", now.self_service,
                 count=now.self_service),
        ngettext(lang, "{count} question solved by the asker themselves",
                 "{count} questions solved by the askers themselves", now.asker,
                 count=now.asker),
        ngettext(lang, "{count} question withdrawn (the asker erased their data)",
                 "{count} questions withdrawn (the askers erased their data)", now.withdrawn,
                 count=now.withdrawn),
    ]


def _outcomes(report: Report, lang: str) -> list[str]:
    """How the questions ended, each beside the period before."""
    before = [value for _, value in _outcome_figures(report.previous_outcomes)]
    now = [value for _, value in _outcome_figures(report.outcomes)]
    return ["", gettext(lang, "How the questions ended:")] + [
        f"  {label} ({_signed(n - b)})"
        for label, n, b in zip(_outcome_labels(lang, report.outcomes), now, before, strict=True)]


def _empty_text(report: Report, lang: str) -> str:
    """A period without questions, said in words rather than as a column of zeros."""
    lines = [gettext(lang, "Report {period} (compared with {previous})",
                     period=report.period.label, previous=report.previous.label),
             gettext(lang, "No questions were asked in {period}.", period=report.period.label)]
    if report.previous_total:
        lines.append(ngettext(lang, "The period before ({previous}): {count} question.",
                              "The period before ({previous}): {count} questions.",
                              report.previous_total, previous=report.previous.label,
                              count=report.previous_total))
    if report.unanswered or report.overdue:
        lines.append(gettext(lang, "Still unanswered: {unanswered} · waited past the limit: "
                                   "{overdue}", unanswered=report.unanswered,
                             overdue=report.overdue))
    return "\n".join(lines + _events_held(report, lang))


def _events_held(report: Report, lang: str) -> list[str]:
    if not report.events:
        return []
    lines = ["", gettext(lang, "Events held:")]
    for e in report.events:
        line = gettext(lang, "  {title}: {coming} coming ({plus} with a colleague), {no} not",
                       title=e.title, coming=e.coming, plus=e.with_colleague, no=e.not_coming)
        line += " · " + gettext(lang, "{came} came", came=e.came)
        if e.rating_average is not None:
            line += " · " + gettext(lang, "feedback {average} / 5 ({count})",
                                    average=_number(e.rating_average, lang),
                                    count=e.feedback_count)
        lines.append(line)
    return lines


def _knowledge(report: Report, services: Services, lang: str) -> list[str]:
    """The knowledge loop: what each self-service answer did, the gaps, the rising topics."""
    lines: list[str] = []
    if report.hallway:
        lines += ["", gettext(lang, "Asked face to face or by phone (logged by helpers): "
                                    "{count}", count=report.hallway)]
    if report.answers:
        lines += ["", gettext(lang, "Self-service answers (offered / helped / still wanted a "
                                    "helper / sent by a helper):")]
        lines += [f"  {a.answer_id} ({_topic(services, a.topic, lang)}): {a.offered} / "
                  f"{a.helped} / {a.wanted} / {a.sent}" for a in report.answers]
    if report.gap_topics or report.gap_answers:
        lines += ["", gettext(lang, "Gaps:")]
    if report.gap_topics:
        lines.append("  " + gettext(lang, "Asked often, no self-service answer yet: {topics}",
                                    topics=", ".join(f"{_topic(services, c.key, lang)} "
                                                     f"({c.count})" for c in report.gap_topics)))
    if report.gap_answers:
        lines.append("  " + gettext(lang, "Answers most often followed by “I still want to ask "
                                          "a helper”: {answers}", answers=", ".join(
                                              f"{a.answer_id} ({a.wanted}/{a.offered})"
                                              for a in report.gap_answers)))
    if report.rising:
        lines += ["", gettext(lang, "Rising topics (an event on them could help):")]
        lines += ["  " + gettext(lang, "{topic}: {count} (before about {before} a month)",
                                 topic=_topic(services, r.topic, lang), count=r.count,
                                 before=_number(r.before, lang)) for r in report.rising]
    return lines


def as_text(report: Report, services: Services, lang: str, top: int = 8) -> str:
    """A summary short enough for one Telegram message."""
    if report.total == 0:
        return _empty_text(report, lang)
    lines = [
        gettext(lang, "Report {period} (compared with {previous})",
                period=report.period.label, previous=report.previous.label),
        gettext(lang, "Questions: {total} ({change})", total=report.total,
                change=_signed(report.total - report.previous_total)),
        " · ".join(f"{_role(services, c.key, lang)} {c.count} ({_signed(c.change)})"
                   for c in report.by_role),
        "",
        gettext(lang, "Most asked topics:"),
    ]
    lines += [f"{n}. {_topic(services, c.key, lang)}: {c.count} ({_signed(c.change)})"
              for n, c in enumerate(report.by_topic[:top], start=1)] or ["–"]
    if report.first_answer:
        lines += ["", gettext(lang, "Time to the first answer (median / 90 %):")]
        lines += _durations(services, report.first_answer, lang)
    if report.to_close:
        lines += [gettext(lang, "Time to closing (median / 90 %):")]
        lines += _durations(services, report.to_close, lang)
    lines += [
        "",
        gettext(lang, "Still unanswered: {unanswered} · waited past the limit: {overdue}",
                unanswered=report.unanswered, overdue=report.overdue),
        gettext(lang, "Offered a self-service answer, not settled, passed to a helper: {count}",
                count=report.offer_unsettled),
        gettext(lang, "Rerouted (first sent to the wrong role): {count}",
                count=report.reroute_total)
        + "".join(f"\n  {_topic(services, c.key, lang)}: {c.count}" for c in report.reroutes),
    ]
    lines += _outcomes(report, lang)
    if report.rating_average is not None:
        lines.append(ngettext(lang, "Rating: {average} / 5 ({count} rating)",
                              "Rating: {average} / 5 ({count} ratings)", report.rating_count,
                              average=_number(report.rating_average, lang),
                              count=report.rating_count))
    lines += _knowledge(report, services, lang)
    lines += _events_held(report, lang)
    if report.folded_below:
        lines += ["", gettext(lang, "Figures from fewer than {minimum} questions are shown as "
                                    "“other” or left out.", minimum=report.folded_below)]
    return "\n".join(lines)


def _rows(report: Report, services: Services, lang: str) -> list[list[Any]]:
    def counts(section: str, items: list[Count], topics: bool) -> list[list[Any]]:
        return [[section, _role(services, c.role, lang),
                 _topic(services, c.key, lang) if topics else "", c.count, c.previous]
                for c in items]

    rows = [["total", "", "", report.total, report.previous_total]]
    rows += counts("topic", report.by_topic, True)
    rows += counts("role", report.by_role, False)
    for section, figures in (("first_answer", report.first_answer),
                             ("to_close", report.to_close)):
        for d in figures:
            role = _role(services, d.role, lang)
            rows += [[f"{section}_median_min", role, "", d.median, ""],
                     [f"{section}_p90_min", role, "", d.p90, ""],
                     [f"{section}_office_median_min", role, "", d.office_median, ""],
                     [f"{section}_office_p90_min", role, "", d.office_p90, ""]]
    rows += [["unanswered", "", "", report.unanswered, ""],
             ["overdue", "", "", report.overdue, ""],
             ["offer_unsettled", "", "", report.offer_unsettled, ""]]
    rows += counts("rerouted_from", report.reroutes, True)
    rows += [[name, "", "", now, before] for (name, now), (_, before) in zip(
        _outcome_figures(report.outcomes), _outcome_figures(report.previous_outcomes),
        strict=True)]
    rows += [["rating_count", "", "", report.rating_count, ""]]
    if report.rating_average is not None:
        rows.append(["rating_average", "", "", report.rating_average, ""])
    rows.append(["hallway", "", "", report.hallway, ""])
    for a in report.answers:
        topic = _topic(services, a.topic, lang)
        rows += [[f"answer_{what}", a.answer_id, topic, value, ""] for what, value in (
            ("offered", a.offered), ("helped", a.helped), ("wanted", a.wanted),
            ("sent", a.sent))]
    rows += [["gap_topic", _role(services, c.role, lang), _topic(services, c.key, lang),
              c.count, ""] for c in report.gap_topics]
    rows += [["gap_answer", a.answer_id, _topic(services, a.topic, lang), a.wanted, ""]
             for a in report.gap_answers]
    rows += [["rising", _role(services, r.role, lang), _topic(services, r.topic, lang),
              r.count, r.before] for r in report.rising]
    for e in report.events:
        rows += [["event_coming", e.kind, e.title, e.coming, ""],
                 ["event_came", e.kind, e.title, e.came, ""],
                 ["event_feedback_count", e.kind, e.title, e.feedback_count, ""]]
        if e.rating_average is not None:
            rows.append(["event_rating_average", e.kind, e.title, e.rating_average, ""])
    return rows


def as_csv(report: Report, services: Services, lang: str) -> bytes:
    """Semicolon-separated, decimal commas for fi/sv, UTF-8 with a byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([gettext(lang, "section"), gettext(lang, "role"), gettext(lang, "topic"),
                     report.period.label, report.previous.label])
    for row in _rows(report, services, lang):
        writer.writerow([_number(v, lang) if isinstance(v, float) else v for v in row])
    return out.getvalue().encode(CSV_ENCODING)


def as_json(report: Report) -> str:
    data = asdict(report)
    for key in ("period", "previous"):
        data[key] = {"label": data[key]["label"], "start": data[key]["start"].isoformat(),
                     "end": data[key]["end"].isoformat()}
    data["reroute_total"] = report.reroute_total
    return json.dumps(data, ensure_ascii=False, indent=2)


ROLE_COLOURS = ("#24527a", "#e07b39", "#3a9e6b", "#8c5fb2", "#9a9a9a")  # other is grey
TOPIC_INCHES, PANEL_INCHES = 0.42, 1.3  # a topic's pair of bars; a panel's title and axis
OUTCOME_INCHES, TREND_INCHES = 2.6, 3.4


def as_png(report: Report, services: Services, lang: str) -> bytes:
    """Topics as bars beside the previous period, how the questions ended, and questions per
    role month by month (bars side by side, each with its value, so that equal figures stay
    visible). As tall as it has something to show: a quiet month is a short picture. What it
    shows is what the report holds, folded or not (bot.domain.reports.fold). A Figure of its
    own, not pyplot's shared state: the bot draws in a worker thread, so that a chart (a quarter
    of a second) holds up no update."""
    from matplotlib.figure import Figure  # slow to import: only when a chart is drawn

    topics = report.by_topic[:10][::-1]
    months = _trend_months(report)
    if not topics and not months:
        # Nothing to draw: the words alone, not empty axes.
        figure = Figure(figsize=(9, 3), dpi=100)
        figure.text(0.5, 0.6, gettext(lang, "No questions in this period"), ha="center",
                    va="center", fontsize=18, color="#24527a")
        figure.text(0.5, 0.35, report.period.label, ha="center", va="center", fontsize=13,
                    color="#555555")
    else:
        ended = any(v for _, v in _outcome_figures(report.outcomes)) or any(
            v for _, v in _outcome_figures(report.previous_outcomes))
        heights = [PANEL_INCHES + TOPIC_INCHES * max(len(topics), 1)]
        heights += [OUTCOME_INCHES] if ended else []
        heights += [TREND_INCHES] if months else []
        figure = Figure(figsize=(9, sum(heights)), dpi=100)
        panels = list(figure.subplots(len(heights), 1, squeeze=False,
                                      gridspec_kw={"height_ratios": heights})[:, 0])
        _draw_topics(report, services, lang, topics, panels.pop(0))
        if ended:
            _draw_outcomes(report, lang, panels.pop(0))
        if months:
            _draw_trend(report, services, lang, months, panels.pop(0))
        figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _trend_months(report: Report) -> list[int]:
    """The months the trend panel shows: from the first with any question (at least the last
    three), so that a new desk's chart is not eleven empty months wide."""
    count = len(report.trend_months)
    if not any(any(counts) for counts in report.trend.values()):
        return []
    first = min((i for counts in report.trend.values() for i, n in enumerate(counts) if n),
                default=count - 1)
    return list(range(min(first, max(count - 3, 0)), count))


def _write_values(axes: Any, bars: Any, horizontal: bool) -> None:
    """Each bar's value beside it (a zero is left unwritten)."""
    labels = [str(int(v)) if v else "" for v in
              (b.get_width() if horizontal else b.get_height() for b in bars)]
    axes.bar_label(bars, labels=labels, padding=2, fontsize=8, color="#333333")


def _legend(axes: Any, columns: int = 1) -> None:
    """The legend beside the panel, where it covers no bar."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=columns, fontsize=9,
                frameon=False)


def _draw_topics(report: Report, services: Services, lang: str, topics: list[Count],
                 bars: Any) -> None:
    """The topics, each this period's bar over the one before, values written."""
    from matplotlib.ticker import MaxNLocator  # slow to import: only when a chart is drawn

    if topics:
        labels = [_topic(services, c.key, lang) for c in topics]
        positions = range(len(topics))
        now = bars.barh([p + 0.2 for p in positions], [c.count for c in topics], height=0.4,
                        label=report.period.label, color="#24527a")
        before = bars.barh([p - 0.2 for p in positions], [c.previous for c in topics],
                           height=0.4, label=report.previous.label, color="#9db4c8")
        _write_values(bars, now, True)
        _write_values(bars, before, True)
        bars.set_yticks(list(positions), labels)
        _legend(bars)
        top = max([c.count for c in topics] + [c.previous for c in topics] + [1])
        bars.set_xlim(0, top * 1.12)
        bars.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        bars.axis("off")
        bars.text(0.5, 0.5, gettext(lang, "No questions were asked in {period}.",
                                    period=report.period.label),
                  ha="center", va="center", fontsize=15, color="#24527a",
                  transform=bars.transAxes)
    bars.set_title(gettext(lang, "Questions by topic"))


def _draw_trend(report: Report, services: Services, lang: str, months: list[int],
                trend: Any) -> None:
    """Questions per role per month: each role's bar beside the others', its value on top."""
    from matplotlib.ticker import MaxNLocator  # slow to import: only when a chart is drawn

    trend.set_title(gettext(lang, "Questions per role by month"))
    roles = [role for role, counts in report.trend.items()
             if any(counts[i] for i in months)]
    if not months or not roles:
        trend.axis("off")
        return
    width = 0.8 / len(roles)
    for index, role in enumerate(roles):
        colour = ROLE_COLOURS[-1] if role == OTHER else ROLE_COLOURS[index % 4]
        drawn = trend.bar([m + (index - (len(roles) - 1) / 2) * width for m in range(len(months))],
                          [report.trend[role][i] for i in months], width=width, color=colour,
                          label=_role(services, role, lang))
        _write_values(trend, drawn, False)
    trend.set_xticks(range(len(months)), [report.trend_months[i] for i in months])
    trend.tick_params(axis="x", labelrotation=45 if len(months) > 6 else 0)
    _legend(trend)
    top = max(max(report.trend[role][i] for i in months) for role in roles)
    trend.set_ylim(0, max(top, 1) * 1.12)  # room for the values
    trend.yaxis.set_major_locator(MaxNLocator(integer=True))


def _draw_outcomes(report: Report, lang: str, ended: Any) -> None:
    """How the questions ended: one pair of bars per outcome, this period over the one before."""
    from matplotlib.ticker import MaxNLocator  # slow to import: only when a chart is drawn

    names = [gettext(lang, "answered by a helper"),
             gettext(lang, "solved by a self-service answer"),
             gettext(lang, "solved by the asker"), gettext(lang, "withdrawn")][::-1]
    now = [value for _, value in _outcome_figures(report.outcomes)][::-1]
    before = [value for _, value in _outcome_figures(report.previous_outcomes)][::-1]
    positions = range(len(names))
    _write_values(ended, ended.barh([p + 0.2 for p in positions], now, height=0.4,
                                    label=report.period.label, color="#24527a"), True)
    _write_values(ended, ended.barh([p - 0.2 for p in positions], before, height=0.4,
                                    label=report.previous.label, color="#9db4c8"), True)
    ended.set_yticks(list(positions), names)
    ended.set_xlim(0, max([*now, *before, 1]) * 1.15)
    ended.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ended)
    ended.set_title(gettext(lang, "How the questions ended"))
