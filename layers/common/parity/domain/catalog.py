"""The catalog: which entitlements each store product grants, and which products are consumables.

Parsed from CATALOG_FILE at every cold start (settings), by functions that may never read a purchase:
it does not load the purchase model (`model`), whose dataclasses cost a webhook's cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Purchase

MANUAL = "manual"  # model.Store.MANUAL (a str enum): a manual grant


@dataclass(frozen=True)
class Catalog:
    """Store product ids (App Store / Play product ids, Stripe price or product ids) → entitlement ids,
    and the product ids that are consumables (`"consumables": [...]`, optional).

    A consumable grants no entitlement, whatever `products` maps it to: it is recorded in the purchase
    history and credited once by the app's backend (`purchase.completed`). The App Store says which
    products are consumables (type "Consumable"); Google Play does not (one-time products are all alike
    until the app consumes one), so Play consumables are listed here.
    """

    products: Mapping[str, tuple[str, ...]]
    consumables: frozenset[str] = frozenset()

    @classmethod
    def from_document(cls, document: Mapping) -> Catalog:
        products = document.get("products") if isinstance(document, Mapping) else None
        # A bare string would be split into one-letter entitlements: each product needs a list of ids.
        if not isinstance(products, Mapping) or not all(
            isinstance(ents, list) and all(isinstance(e, str) for e in ents) for ents in products.values()
        ):
            raise ValueError('catalog must be {"products": {"<product id>": ["<entitlement id>", ...]}}')
        consumables = document.get("consumables", [])
        if not isinstance(consumables, list) or not all(isinstance(c, str) for c in consumables):
            raise ValueError('catalog "consumables" must be a list of product ids')
        return cls(
            {str(product): tuple(str(e) for e in ents) for product, ents in products.items()},
            frozenset(consumables),
        )

    def is_consumable(self, purchase: Purchase) -> bool:
        """Whether the purchase is a consumable: its store says so, or the catalog lists its product."""
        refs = purchase.product_refs or ((purchase.product_id,) if purchase.product_id else ())
        return purchase.consumable or any(ref in self.consumables for ref in refs)

    @property
    def entitlement_ids(self) -> frozenset[str]:
        """Every entitlement some product grants: what an operator may grant by hand."""
        return frozenset(e for ents in self.products.values() for e in ents)

    def entitlements_of(self, purchase: Purchase) -> tuple[str, ...]:
        if purchase.store == MANUAL:  # a grant names its entitlements, no product
            return tuple(e for e in purchase.product_refs if e in self.entitlement_ids)
        if self.is_consumable(purchase):
            return ()  # credited by the app's backend, never a lasting entitlement
        refs = purchase.product_refs or ((purchase.product_id,) if purchase.product_id else ())
        found: dict[str, None] = {}
        for ref in refs:
            found.update(dict.fromkeys(self.products.get(ref, ())))
        return tuple(found)
