"""One handler per intent: the answer text from the store's data (catalog, stock, facts, orders, FAQ).

Answers are short sentences meant to be spoken. Chinese answers read numbers digit by digit where a
customer would (order numbers) and keep product names as the store spells them.
"""

from __future__ import annotations

from . import knowledge
from .stages import Answer, IntentMatch

TEXTS = {
    "en": {
        "in_stock": "Yes, we have {title}, {on_hand} in stock, {price} {currency}.",
        "in_stock_plain": "Yes, we have {title}, {price} {currency}.",
        "out_of_stock": "Sorry, {title} is out of stock right now.",
        "unknown_product": "Sorry, I could not find that product.",
        "aisle": "{title} is in aisle {aisle}.",
        "no_aisle": "{title} is in the store; a colleague can show you where.",
        "order": "Order {id} is {status}. {detail}",
        "no_order": "I could not find order {id}. Please check the number.",
        "ask_order": "Please tell me your order number.",
        "hours": "Our opening hours are {hours}.",
        "returns": "{policy}",
        "handoff": "I am passing you to a colleague who will help you shortly.",
        "not_understood": "Sorry, I did not understand. I can help with products, orders, opening hours and returns.",
        "no_data": "Sorry, I do not have that information here.",
    },
    "zh": {
        "in_stock": "有的，{title}有货，库存{on_hand}件，价格{price}{currency}。",
        "in_stock_plain": "有的，{title}，价格{price}{currency}。",
        "out_of_stock": "抱歉，{title}现在缺货。",
        "unknown_product": "抱歉，没有找到这个商品。",
        "aisle": "{title}在{aisle}号通道。",
        "no_aisle": "{title}在店里，同事可以带您去。",
        "order": "订单{id}：{status}。{detail}",
        "no_order": "没有找到订单{id}，请核对号码。",
        "ask_order": "请告诉我您的订单号。",
        "hours": "我们的营业时间是{hours}。",
        "returns": "{policy}",
        "handoff": "我帮您转接人工客服，请稍等。",
        "not_understood": "抱歉，我没听懂。我可以帮您查商品、订单、营业时间和退货。",
        "no_data": "抱歉，这里没有这个信息。",
    },
}


def say(language: str, key: str, **values) -> str:
    """The answer sentence ``key`` in ``language`` with ``values`` filled in."""
    return TEXTS.get(language, TEXTS["en"])[key].format(**values).strip()


def _item(db, match: IntentMatch, language: str):
    item = knowledge.product(db, match.slots.get("product", ""), knowledge.request_store())
    if item is not None and language == "zh":
        item["title"] = knowledge.fact(db, item["sku"], "name_zh", "zh") or item["title"]
    return item


def availability(db, match: IntentMatch, language: str) -> Answer:
    item = _item(db, match, language)
    if item is None:
        return Answer(say(language, "unknown_product"))
    if not item["in_stock"] or item["on_hand"] == 0:
        return Answer(say(language, "out_of_stock", **item), data={"sku": item["sku"], "available": False})
    key = "in_stock" if item["on_hand"] is not None else "in_stock_plain"
    return Answer(say(language, key, **item), data={"sku": item["sku"], "available": True, "on_hand": item["on_hand"]})


def location(db, match: IntentMatch, language: str) -> Answer:
    item = _item(db, match, language)
    if item is None:
        return Answer(say(language, "unknown_product"))
    aisle = knowledge.fact(db, item["sku"], "aisle", language)
    key = "aisle" if aisle else "no_aisle"
    return Answer(say(language, key, title=item["title"], aisle=aisle), data={"sku": item["sku"], "aisle": aisle})


def order_status(db, match: IntentMatch, language: str) -> Answer:
    order_id = match.slots.get("order_id")
    if not order_id:
        return Answer(say(language, "ask_order"), data={"needs": "order_id"})
    row = knowledge.order(db, order_id)
    if row is None:
        return Answer(say(language, "no_order", id=order_id), data={"order_id": order_id, "found": False})
    return Answer(say(language, "order", **row), data={"order_id": order_id, "status": row["status"], "found": True})


def store_hours(db, match: IntentMatch, language: str) -> Answer:
    hours = knowledge.fact(db, "store", "hours", language)
    return Answer(say(language, "hours", hours=hours) if hours else say(language, "no_data"), data={"hours": hours})


def returns_policy(db, match: IntentMatch, language: str) -> Answer:
    policy = knowledge.fact(db, "policy", "returns", language)
    return Answer(say(language, "returns", policy=policy) if policy else say(language, "no_data"))


def faq(db, match: IntentMatch, language: str) -> Answer:
    return Answer(match.slots["answer"], data={"faq_id": match.slots.get("faq_id")})


HANDLERS = {"ProductAvailability": availability, "ProductLocation": location, "OrderStatus": order_status,
            "StoreHours": store_hours, "ReturnsPolicy": returns_policy, "FAQ": faq}
