"""The style bank's named styles and their thumbnails."""
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from stylize.models.bank import StyleBank

from ..deps import ready_bank

router = APIRouter(prefix="/styles")
BankDep = Annotated[StyleBank, Depends(ready_bank)]


@router.get("", summary="The style bank's named styles, for `style_name` (quality model)")
async def styles(request: Request, bank: BankDep):
    losses = bank.metadata.get("styles") or {}
    return {"styles": [{"index": i, "name": name, "thumbnail": str(request.url_for("style_thumbnail", name=name)),
                        **({"losses": losses.get(name)} if losses else {})}
                       for i, name in enumerate(bank.names)]}


@router.get("/{name}/thumbnail", summary="A small JPEG of a bank style's painting",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
async def style_thumbnail(name: str, bank: BankDep):
    if name not in bank.names or not bank.thumbnails[bank.names.index(name)]:
        raise HTTPException(404, f"no thumbnail for style {name!r}")
    return Response(bank.thumbnails[bank.names.index(name)], media_type="image/jpeg")
