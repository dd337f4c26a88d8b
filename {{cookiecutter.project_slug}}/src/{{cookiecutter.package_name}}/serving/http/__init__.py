"""The HTTP front: what the BentoML service needs around the predictor.

`gateway` (API keys, content type and body size, before BentoML parses anything),
`api_document` (the OpenAPI document made to describe those answers),
`request_body` (orjson first), `api_models` (the answers' pydantic models and so the OpenAPI
document), `gc_tuning` (the collector set for a long-running worker).
"""
