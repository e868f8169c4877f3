"""Finding one's way in a definition, pure (domains import it)."""

from __future__ import annotations

from laurel.campaigns.schema import CampaignDefinition, Category
from laurel.errors import FieldViolation, InvalidArgument

# The event a consumer records when it notes a definition intake announced.
DEFINITION_NOTED = "CampaignDefinitionNoted"


def category_of(definition: CampaignDefinition, key: str) -> Category:
    """The category, or INVALID_ARGUMENT naming the ones there are."""
    category = definition.category(key)
    if category is None:
        raise InvalidArgument(
            f"campaign {definition.id!r} has no category {key!r}",
            [FieldViolation("category", "expected one of "
                                        f"{[c.key for c in definition.categories]}")])
    return category
