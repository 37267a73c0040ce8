"""Every word the staff TUI shows, in Japanese and English, in one place.

Widgets hold a catalog key, never a sentence; ``label(key, lang)`` looks it up, so switching
the language is one pass over the screen. Keys with ``{name}`` fields are formatted by the
caller. Pure: no Textual here.
"""

from __future__ import annotations

LANGUAGES = ("ja", "en")

CATALOG: dict[str, tuple[str, str]] = {
    # title bar and connection
    "app.title": ("shelterkit 職員用", "shelterkit staff"),
    "app.hub": ("市役所", "City hall"),
    "conn.ok": ("● 接続中", "● connected"),
    "conn.updated": ("更新 {age}", "updated {age}"),
    "conn.connecting": ("… 接続しています", "… connecting"),
    "conn.unreachable": (
        "✕ {url} に接続できません（{detail}）。{age}の表示です。自動で再試行しています。",
        "✕ Cannot reach {url} ({detail}). Showing data from {age}. Retrying by itself.",
    ),
    "conn.unauthorized": (
        "✕ トークンが違います。管理者から新しいトークンを受け取り、--token で指定してください。",
        "✕ The token is wrong. Ask your administrator for a new one and give it with --token.",
    ),
    "conn.expired": (
        "✕ トークンの期限が切れました。管理者から新しいトークンを受け取ってください。",
        "✕ The token has expired. Ask your administrator for a new one.",
    ),
    "conn.rate_limited": (
        "✕ 失敗が多すぎます。しばらく待ってから再試行します。",
        "✕ Too many failed attempts. Waiting before trying again.",
    ),
    "conn.refused": ("✕ 拒否されました: {detail}", "✕ Refused: {detail}"),
    "conn.not_admin": (
        "✕ {url} は職員用の窓口ではありません。避難所の機器の職員用アドレスを指定してください。",
        "✕ {url} is not a staff address. Give the node's or hub's staff address.",
    ),
    # key hints (footer)
    "key.fleet": ("全体", "Fleet"),
    "key.node": ("機器", "Node"),
    "key.board": ("掲示板", "Board"),
    "key.status": ("人数", "Needs"),
    "key.notices": ("お知らせ", "Notices"),
    "key.alerts": ("警報", "Alerts"),
    "key.safety": ("安否", "Safety"),
    "key.new_person": ("登録", "New"),
    "key.correct": ("訂正", "Edit"),
    "key.unlist": ("非公開", "Unlist"),
    "key.lang": ("EN", "日本語"),
    "key.refresh": ("更新", "Refresh"),
    "key.quit": ("終了", "Quit"),
    "key.sort": ("並べ替え", "Sort"),
    "key.hide": ("非表示", "Hide"),
    "key.restore": ("再表示", "Restore"),
    "key.add": ("新規", "New"),
    "key.withdraw": ("取り下げ", "Withdraw"),
    "key.target": ("接続先", "Target"),
    "key.leave": ("入力を終える", "Done"),
    # fleet
    "fleet.title": ("避難所の一覧（並び: {sort}）", "Shelters (sorted by {sort})"),
    "fleet.col.id": ("ID", "ID"),
    "fleet.col.name": ("避難所", "Shelter"),
    "fleet.col.state": ("状態", "State"),
    "fleet.col.battery": ("電池", "Battery"),
    "fleet.col.headcount": ("人数", "People"),
    "fleet.col.clients": ("端末", "Phones"),
    "fleet.col.contact": ("市役所と", "City hall"),
    "fleet.col.needs": ("不足", "Short of"),
    "fleet.col.links": ("回線", "Links"),
    "fleet.sort.shelter": ("ID", "ID"),
    "fleet.sort.contact": ("連絡の古い順", "oldest contact"),
    "fleet.sort.headcount": ("人数の多い順", "most people"),
    "fleet.sort.battery": ("電池の少ない順", "lowest battery"),
    "fleet.state.ok": ("● 良好", "● ok"),
    "fleet.state.stale": ("▲ 途絶え", "▲ stale"),
    "fleet.state.uncovered": ("✕ 直接なし", "✕ indirect"),
    "fleet.state.revoked": ("✕ 無効", "✕ revoked"),
    "fleet.uncovered_list": (
        "✕ 市役所と直接つながっていない避難所: {list}（隣の避難所経由のみ）",
        "✕ City hall does not hear from these directly: {list} (only through neighbours)",
    ),
    "fleet.stale_list": (
        "▲ 10分以上連絡のない避難所: {list}",
        "▲ No contact for over 10 minutes: {list}",
    ),
    "fleet.all_covered": (
        "すべての避難所が市役所と直接つながっています。",
        "City hall hears from every shelter directly.",
    ),
    "fleet.empty": ("登録された避難所はまだありません。", "No shelters are enrolled yet."),
    # node detail
    "node.title": ("この機器の状態", "This node"),
    "node.shelter": ("避難所", "Shelter"),
    "node.records": ("記録の数", "Records"),
    "node.storage": ("保存領域", "Storage"),
    "node.clock": ("時計", "Clock"),
    "node.clock.certain": ("確認済み", "confirmed"),
    "node.clock.uncertain": ("未確認（時刻がずれている可能性）", "unconfirmed (may be off)"),
    "node.enrolled": ("市役所への登録", "Enrolled"),
    "node.yes": ("済み", "yes"),
    "node.no": ("未登録", "no"),
    "node.last_sync": ("最後の同期", "Last sync"),
    "node.rejected": ("拒否した送信元", "Rejected origins"),
    "node.links": ("接続（設定）", "Links (configured)"),
    "node.link.hub": ("市役所", "city hall"),
    "node.link.peer": ("隣の避難所", "neighbour"),
    "node.link.none": ("設定なし", "none configured"),
    "node.peers": ("最近の相手", "Recent peers"),
    "node.radio": ("無線", "Radio"),
    "radio.line": (
        "{state}  電波 {airtime}秒/時（上限の{pct}%）  送信待ち {queue}  "
        "受信 {heard}  隣 {neighbours}",
        "{state}  airtime {airtime} s/h ({pct}% of budget)  queued {queue}  heard {heard}  "
        "neighbours {neighbours}",
    ),
    "node.peers.none": ("まだ同期していません", "no sync yet"),
    "node.log": ("最近のログ（新しいものが下）", "Recent log (newest last)"),
    "node.log.none": ("記録すべきことはまだありません", "nothing to report yet"),
    "node.log.unavailable": (
        "この機器からはログを取得できません",
        "this node does not offer its log",
    ),
    "log.level.info": ("[情報]", "[INFO]"),
    "log.level.warning": ("[警告]", "[WARN]"),
    "log.level.error": ("[異常]", "[ERROR]"),
    "log.level.critical": ("[重大]", "[CRIT]"),
    # board
    "board.title": ("掲示板の確認（新しい順）", "Board moderation (newest first)"),
    "board.col.time": ("時刻", "Time"),
    "board.col.shelter": ("避難所", "Shelter"),
    "board.col.category": ("種類", "Kind"),
    "board.col.author": ("名前", "Name"),
    "board.col.text": ("内容", "Text"),
    "board.col.state": ("状態", "State"),
    "board.shown": ("表示中", "shown"),
    "board.hidden": ("非表示", "hidden"),
    "board.empty": ("投稿はまだありません。", "No posts yet."),
    "board.other": (
        "他の避難所の投稿は変更できません。",
        "Posts of other shelters cannot be changed.",
    ),
    "board.reason.hide": ("非表示にする理由", "Why hide this post?"),
    "board.reason.restore": ("再表示する理由", "Why show this post again?"),
    "board.hidden_ok": ("非表示にしました。", "Post hidden."),
    "board.restored_ok": ("再表示しました。", "Post shown again."),
    "category.needs": ("求む", "needs"),
    "category.offers": ("提供", "offers"),
    "category.info": ("情報", "info"),
    "category.looking": ("人探し", "looking"),
    # status
    "status.title": ("人数と不足している物資", "Headcount and needs"),
    "status.headcount": ("避難者数", "People"),
    "status.households": ("世帯数", "Households"),
    "status.needs_care": ("要配慮者", "Need care"),
    "status.water": ("水", "Water"),
    "status.food": ("食料", "Food"),
    "status.medicine": ("医薬品", "Medicine"),
    "status.blankets": ("毛布", "Blankets"),
    "status.power": ("電源", "Power"),
    "status.send": ("送信する", "Send"),
    "status.last": ("前回の送信: {age}", "Last sent: {age}"),
    "status.never": ("まだ送信していません", "Not sent yet"),
    "status.sent_ok": ("市役所へ送る記録を作りました。", "Status recorded; it goes to city hall."),
    "status.bad_number": ("{field}: 0 以上の整数を入れてください", "{field}: enter a whole number"),
    "need.none": ("足りている", "enough"),
    "need.low": ("少し不足", "a little short"),
    "need.high": ("不足", "short"),
    "need.critical": ("緊急", "urgent"),
    "needshort.water": ("水", "Wtr"),
    "needshort.food": ("食", "Food"),
    "needshort.medicine": ("薬", "Med"),
    "needshort.blankets": ("毛布", "Blkt"),
    "needshort.power": ("電源", "Pwr"),
    # notices
    "notices.title": ("この避難所のお知らせ", "Notices of this shelter"),
    "notices.col.time": ("掲示", "Posted"),
    "notices.col.title": ("題名", "Title"),
    "notices.col.state": ("状態", "State"),
    "notices.active": ("掲示中", "shown"),
    "notices.withdrawn": ("取り下げ済み", "withdrawn"),
    "notices.empty": ("お知らせはまだありません。", "No notices yet."),
    "notices.new": ("新しいお知らせ", "New notice"),
    "notices.field.title_ja": ("題名（日本語）", "Title (Japanese)"),
    "notices.field.title_en": ("題名（英語・任意）", "Title (English, optional)"),
    "notices.field.text_ja": ("本文（日本語）", "Text (Japanese)"),
    "notices.added_ok": ("お知らせを掲示しました。", "Notice posted."),
    "notices.withdraw_q": ("「{title}」を取り下げますか？", "Withdraw “{title}”?"),
    "notices.withdrawn_ok": ("取り下げました。", "Notice withdrawn."),
    # alerts
    "alerts.title": (
        "警報の発令（全避難所へ署名して配信）",
        "Issue an alert (signed, to every shelter)",
    ),
    "alerts.headline_ja": ("見出し（日本語）", "Headline (Japanese)"),
    "alerts.headline_en": ("見出し（英語・任意）", "Headline (English, optional)"),
    "alerts.instruction_ja": ("とるべき行動（日本語・任意）", "What to do (Japanese, optional)"),
    "alerts.severity": ("重大度", "Severity"),
    "alerts.expires": ("有効期間", "Valid for"),
    "alerts.targets": ("対象の避難所ID（空欄なら全て）", "Shelter ids (empty: all)"),
    "alerts.preview": ("プレビュー", "Preview"),
    "alerts.issue": ("発令する", "Issue"),
    "alerts.preview_title": ("プレビュー（まだ発令していません）", "Preview (not issued yet)"),
    "alerts.preview_none": (
        "見出しを入れて Enter を押すとプレビューが出ます。",
        "Type a headline and press Enter to preview.",
    ),
    "alerts.need_preview": ("先にプレビューしてください。", "Preview it first."),
    "alerts.confirm": (
        "この警報を{targets}に発令しますか？\n{headline}",
        "Issue this alert to {targets}?\n{headline}",
    ),
    "alerts.all": ("全避難所", "every shelter"),
    "alerts.issued_ok": ("発令しました: {identifier}", "Issued: {identifier}"),
    "alerts.expires_in": ("{age}まで有効", "valid until {age}"),
    "alerts.targets_all": ("対象: 全避難所", "To: every shelter"),
    "alerts.targets_some": ("対象: {list}", "To: {list}"),
    "hours": ("{n}時間", "{n} h"),
    "severity.extreme": ("極めて重大", "extreme"),
    "severity.severe": ("重大", "severe"),
    "severity.moderate": ("中程度", "moderate"),
    "severity.minor": ("軽微", "minor"),
    "severity.unknown": ("不明", "unknown"),
    # safety registrations
    "safety.title": ("安否登録（電話のない方の代理登録・検索・訂正）", "Safety registrations"),
    "safety.search": ("名前で検索（Enter）", "Search by name (Enter)"),
    "safety.col.name": ("名前", "Name"),
    "safety.col.reading": ("よみ", "Reading"),
    "safety.col.age": ("年齢", "Age"),
    "safety.col.district": ("地区", "District"),
    "safety.col.shelter": ("避難所", "Shelter"),
    "safety.col.updated": ("更新", "Updated"),
    "safety.none": ("見つかりませんでした。", "Nobody found."),
    "safety.hint": (
        "公開に同意した方だけが検索に出ます。n で新しく登録できます。",
        "Only people who agreed to be listed are found. Press n to register someone.",
    ),
    "safety.new": (
        "安否の登録（本人の同意を確認してください）",
        "Register someone (ask for consent)",
    ),
    "safety.edit": ("登録の訂正", "Correct a registration"),
    "safety.family": ("姓", "Family name"),
    "safety.given": ("名", "Given name"),
    "safety.reading": ("よみ（かな）", "Reading (kana)"),
    "safety.age": ("年齢または生まれ年", "Age or year of birth"),
    "safety.district": ("住所の地区", "Home district"),
    "safety.contact": ("連絡先（市役所のみ）", "Contact (city hall only)"),
    "safety.consent": ("名前の公開", "List publicly"),
    "safety.consent.yes": ("公開してよい", "yes, list"),
    "safety.consent.no": ("公開しない", "no, do not list"),
    "safety.added_ok": (
        "登録しました。番号 {person_id}　削除コード {code}（本人に渡してください）",
        "Registered. Number {person_id}, deletion code {code} (give it to the person)",
    ),
    "safety.corrected_ok": ("訂正しました。", "Corrected."),
    "safety.unlist_q": (
        "{name} さんを検索に出さないようにしますか？",
        "Stop listing {name} in searches?",
    ),
    "safety.unlisted_ok": ("非公開にしました。", "No longer listed."),
    "safety.other": (
        "他の避難所で登録された方は変更できません。",
        "Registrations from other shelters cannot be changed here.",
    ),
    # dialogs
    "dialog.yes": ("はい (y)", "Yes (y)"),
    "dialog.no": ("いいえ (n)", "No (n)"),
    "dialog.ok": ("決定", "OK"),
    "dialog.cancel": ("やめる", "Cancel"),
    "dialog.required": ("入力してください", "Please fill this in"),
    "not_for_hub": ("この画面は避難所の機器で使います。", "This screen is for a shelter's node."),
    # ages
    "age.none": ("—", "—"),
    "age.now": ("たった今", "just now"),
    "age.s": ("{n}秒前", "{n} s ago"),
    "age.m": ("{n}分前", "{n} min ago"),
    "age.h": ("{n}時間前", "{n} h ago"),
    "age.d": ("{n}日前", "{n} d ago"),
    "age.never": ("連絡なし", "never"),
    "in.m": ("{n}分後", "in {n} min"),
    "in.h": ("{n}時間後", "in {n} h"),
    "in.d": ("{n}日後", "in {n} d"),
}


def label(key: str, lang: str, **fields: object) -> str:
    """The text for ``key`` in ``lang`` (``"ja"`` or ``"en"``), formatted with ``fields``.

    An unknown key is shown as itself, so a missing entry is visible, never a crash.
    """
    entry = CATALOG.get(key)
    if entry is None:
        return key
    text = entry[1] if lang == "en" else entry[0]
    return text.format(**fields) if fields else text


def other_language(lang: str) -> str:
    return "en" if lang == "ja" else "ja"
