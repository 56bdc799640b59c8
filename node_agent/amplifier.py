"""The amplifier relay on a GPIO pin (gpiozero): on a warm-up time before a play, off a hold
time after the last one. Without a pin configured, a relay that does nothing."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Amplifier:
    def __init__(self, gpio_pin: int | None, hold_s: float, active_high: bool = True):
        self.gpio_pin = gpio_pin
        self.hold_s = hold_s
        self._device: Any = None
        self._wanted = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        if gpio_pin is not None:
            from gpiozero import OutputDevice  # heavy import only when a relay is wired

            self._device = OutputDevice(gpio_pin, active_high=active_high, initial_value=False)

    @property
    def present(self) -> bool:
        return self._device is not None

    @property
    def is_on(self) -> bool:
        return bool(self._device is not None and self._device.value)

    def on(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._wanted:
                self._wanted = True
                if self._device is not None and not self._device.value:
                    log.info("amplifier on (GPIO %s)", self.gpio_pin)
                    self._device.on()

    def release(self) -> None:
        """Switch off after the hold time unless ``on`` is called again before."""
        with self._lock:
            if not self._wanted:
                return
            self._wanted = False
            if self._device is None:
                return
            self._timer = threading.Timer(self.hold_s, self._off)
            self._timer.daemon = True
            self._timer.start()

    def _off(self) -> None:
        with self._lock:
            if self._wanted or self._device is None:
                return
            self._timer = None
            log.info("amplifier off (GPIO %s)", self.gpio_pin)
            self._device.off()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._device is not None:
                self._device.off()
                self._device.close()
                self._device = None
