import sys

from mr_rnn.cli import main

sys.exit(main())
