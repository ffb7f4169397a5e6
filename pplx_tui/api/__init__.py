"""httpx client for the Perplexity key endpoints, with typed errors."""

from pplx_tui.api.client import (
    DEFAULT_BASE_URL,
    VERIFY_METHODS,
    GeneratedToken,
    PerplexityClient,
    RetryPolicy,
    VerifyResult,
)
from pplx_tui.api.errors import (
    ApiError,
    ApiTimeout,
    ApiUnreachable,
    ConnectionDropped,
    GenerateGatewayFailure,
    GenerateOutcomeUnknown,
    GenerateResponseMalformed,
    InvalidKey,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    ServerError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "VERIFY_METHODS",
    "ApiError",
    "ApiTimeout",
    "ApiUnreachable",
    "ConnectionDropped",
    "GenerateGatewayFailure",
    "GenerateOutcomeUnknown",
    "GenerateResponseMalformed",
    "GeneratedToken",
    "InvalidKey",
    "MalformedResponse",
    "PerplexityClient",
    "RateLimited",
    "RequestRejected",
    "RetryPolicy",
    "ServerError",
    "VerifyResult",
]
