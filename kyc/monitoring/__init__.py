"""Transaction monitoring: versioned rules over a client's money movements, alerts, reports."""
