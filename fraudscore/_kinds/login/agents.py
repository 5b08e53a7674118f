"""User agents, by family: what the login features and the Freeman baseline compare."""

from __future__ import annotations

__all__ = ["browser_of", "os_of"]


def browser_of(user_agent: str) -> str:
    """Browser family of a user agent string."""
    if "Edg/" in user_agent:
        return "edge"
    if "Firefox/" in user_agent:
        return "firefox"
    if "Chrome/" in user_agent or "CriOS/" in user_agent:
        return "chrome"
    if "Safari/" in user_agent:
        return "safari"
    return "other"


def os_of(user_agent: str) -> str:
    """Operating-system family of a user agent string."""
    if "Windows" in user_agent:
        return "windows"
    if "Android" in user_agent:
        return "android"
    if "iPhone" in user_agent or "iPad" in user_agent:
        return "ios"
    if "Mac OS X" in user_agent or "Macintosh" in user_agent:
        return "macos"
    if "Linux" in user_agent:
        return "linux"
    return "other"
