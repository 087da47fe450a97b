"""tweetner: tweet relevance classification and security named-entity recognition.

Importing the package is cheap: nothing here imports TensorFlow. The heavy modules
(`model`, `crf`, `train`, `export`) import it themselves.
"""

__version__ = "0.1.0"
