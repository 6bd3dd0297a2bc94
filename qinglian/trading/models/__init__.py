from .contracts import Contract, ContractLine
from .master import (
    Commodity,
    CreditChange,
    Partner,
    PartnerContact,
    Qualification,
    SupplierAdmission,
    Warehouse,
)
from .money import Invoice, PartnerBalance, PartnerLedgerEntry, Payment
from .numbering import DocumentCounter
from .stock import (
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    Stocktake,
    StocktakeLine,
)

__all__ = [
    "Commodity",
    "Contract",
    "ContractLine",
    "CreditChange",
    "DocumentCounter",
    "Invoice",
    "Partner",
    "PartnerBalance",
    "PartnerContact",
    "PartnerLedgerEntry",
    "Payment",
    "Qualification",
    "StockBalance",
    "StockDocument",
    "StockDocumentLine",
    "StockLedgerEntry",
    "Stocktake",
    "StocktakeLine",
    "SupplierAdmission",
    "Warehouse",
]
