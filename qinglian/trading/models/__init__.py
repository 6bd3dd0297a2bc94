from .contracts import Contract, ContractLine
from .credit import (
    CreditDocumentKind,
    CreditException,
    CreditExceptionStatus,
    CreditExposure,
    CreditPolicy,
)
from .master import (
    Commodity,
    CreditChange,
    Partner,
    PartnerContact,
    PartnerStatusChange,
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
from .warnings import TradingWarning, TradingWarningResponsible, WarningThresholds

__all__ = [
    "Commodity",
    "Contract",
    "ContractLine",
    "CreditChange",
    "CreditDocumentKind",
    "CreditException",
    "CreditExceptionStatus",
    "CreditExposure",
    "CreditPolicy",
    "DocumentCounter",
    "Invoice",
    "Partner",
    "PartnerBalance",
    "PartnerContact",
    "PartnerLedgerEntry",
    "PartnerStatusChange",
    "Payment",
    "Qualification",
    "StockBalance",
    "StockDocument",
    "StockDocumentLine",
    "StockLedgerEntry",
    "Stocktake",
    "StocktakeLine",
    "SupplierAdmission",
    "TradingWarning",
    "TradingWarningResponsible",
    "Warehouse",
    "WarningThresholds",
]
